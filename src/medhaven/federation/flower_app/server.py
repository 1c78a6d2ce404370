"""The ServerApp at the SuperLink: one run = one signed job, its result written as JSON.

Run config (``flwr run ... --run-config overrides.toml``): ``job-path`` (the
signed job JSON), ``result-path`` (where the result document goes, written
aside then renamed), ``min-nodes`` (how many targets must answer ``ok``),
``timeout`` (seconds for the replies) and ``wait-nodes`` (seconds to wait for
target nodes to connect).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from medhaven.federation.flower_app.dispatch import run_job

app = ServerApp()


def write_result(path: Path, doc: dict[str, Any]) -> None:
    """Write-aside-then-rename, so the submitter never reads half a result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Read the run config, dispatch the job, write the result."""
    cfg = context.run_config
    result_path = Path(str(cfg["result-path"]))
    signed_json = Path(str(cfg["job-path"])).read_text(encoding="utf-8")
    doc = run_job(grid, signed_json, min_nodes=int(cfg["min-nodes"]),
                  wait=float(cfg["wait-nodes"]), timeout=float(cfg["timeout"]))  # fmt: skip
    write_result(result_path, doc)


__all__ = ["app", "main", "write_result"]
