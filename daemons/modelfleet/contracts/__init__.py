"""Every JSON document that crosses a process boundary, declared once as typed data.

Producers build these types, consumers parse with them, and the OpenAPI document, the node
simulator (``tests/support/nodesim.py``) and the playbook filters are derived from them, so a
field changes in one place or not at all.

Where each document lives:

- ``contracts.node``: what a node daemon reports (puller status, config manager status,
  quarantine entries) and the registration it sends to the master;
- ``contracts.cluster``: what the master answers (cluster status with structured problem
  codes, drain check, triage, audit entries);
- the local desired document (``LOCAL/.modelfleet/desired.json``) lives with the one module
  that owns the local model directory, and the remote desired document
  (``_modelfleet/desired.json``) with the desired-state domain module; both are re-exported
  here once they exist.
"""
