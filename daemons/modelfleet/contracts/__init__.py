"""Every JSON document that crosses a process boundary, declared once as typed data.

Producers build these types and send ``schema.to_json`` of them, consumers check what they
receive with ``schema.from_json`` (which names the first bad field), and the OpenAPI
document, the node simulator (``tests/support/nodesim.py``) and the playbook filters use the
same declarations, so a field changes in one place or not at all.

Where each document lives:

- ``contracts.schema``: the machinery (``to_json``, ``from_json``, ``json_schema``, ``rule``);
  ``contracts.fields``: the field types shared by all (model name, version, label, zone,
  hostname — each with the validator of :mod:`modelfleet.names` and its JSON Schema);
- ``contracts.node``: what a node daemon reports (puller status, config manager status,
  quarantine entries) and the registration it sends to the master;
- ``contracts.cluster``: what the master answers about the fleet (cluster status with
  structured problem codes, triage, drain check, maintenance, audit entries, the error
  shape); ``contracts.master_api``: its other answers and its request bodies;
- the remote desired document (``_modelfleet/desired.json``): ``modelfleet.desired``
  (``DesiredState``), the desired-state domain module; the local desired document
  (``LOCAL/.modelfleet/desired.json``): ``modelfleet.localdir`` (``LocalDesired``), the one
  owner of the local model directory. They are not re-exported here: this package must stay
  importable by both without a cycle.
"""
