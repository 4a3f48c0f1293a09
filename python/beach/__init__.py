"""beach's Python SDK: write actors the way py-beach did, run them from a node's code directory.

- ``beach.actor``: the ``Actor`` base class (py-beach's API) and the handles it uses.
- ``beach.host``: the process a node starts to run Python actors (``python3 -m beach.host``).
- ``beach.protocol``: the actor protocol's framing (docs/actor-protocol.md).

The node ships this package and puts it on its interpreter's path; a node only needs
``cbor2`` installed (``pip install cbor2``).
"""

__version__ = "0.1.0"
