"""MedHaven's Flower App: the ServerApp that dispatches a signed job, the ClientApp that runs it.

* :mod:`.client`: the ClientApp at each hospital's SuperNode; answers
  ``query.hello`` (its node name) and ``query.job`` (calls
  :func:`medhaven.federation.node.handle_job`, one job at a time per node);
* :mod:`.server`: the ServerApp at the SuperLink; reads the run config and
  writes the result JSON;
* :mod:`.dispatch`: the rounds themselves (who is there, send, collect with a
  fast pull loop, mark missing nodes, combine).

``APP_DIR`` is the folder ``flwr run`` ships (it holds the app's ``pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path

APP_DIR = Path(__file__).resolve().parent

__all__ = ["APP_DIR"]
