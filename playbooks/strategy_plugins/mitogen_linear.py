"""The ``mitogen_linear`` strategy for this repository's playbooks (opt-in:
``ANSIBLE_STRATEGY=mitogen_linear ansible-playbook playbooks/rollout.yml``).

Mitogen keeps one Python interpreter per host for the whole run and sends modules to it over
the connection it already has, instead of packaging, copying and starting each module anew;
the controller's CPU per module execution is what bounds a 1,000-host rollout (bench/rollout.py
measures both strategies). The plugin ships in the ``mitogen`` package (requirements-dev.txt);
Ansible finds strategy plugins by path only, and adds ``strategy_plugins/`` next to the playbook
to that path, so this file only re-exports it from wherever the venv installed it. Same task
semantics as ``linear``; connections of type ssh, local and podman (among others) go through
Mitogen, any other falls back to Ansible's own.
"""

from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule

__all__ = ["StrategyModule"]
