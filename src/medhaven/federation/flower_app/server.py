"""The ServerApp at the SuperLink: one run = one signed job, its result written as JSON.

Run config (``flwr run ... --run-config overrides.toml``): ``job-path`` (the
signed job JSON), ``result-path`` (where the result document goes, written
aside then renamed), ``min-nodes`` (how many targets must answer ``ok``),
``timeout`` (seconds for the replies), ``wait-nodes`` (seconds to wait for
target nodes to connect) and ``nodes-cache`` (a JSON file of node ids and
names from earlier runs, which saves the hello round; empty: none).
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
    spool = str(cfg.get("spool-dir", ""))
    if spool:
        from medhaven.federation.flower_app.session import serve

        serve(grid, Path(spool), run_id=context.run_id,
              idle_limit=float(cfg.get("idle-limit", 3600.0)))  # fmt: skip
        return
    result_path = Path(str(cfg["result-path"]))
    signed_json = Path(str(cfg["job-path"])).read_text(encoding="utf-8")
    cache = Path(str(cfg["nodes-cache"])) if str(cfg.get("nodes-cache", "")) else None
    known = read_known(cache) if cache else None
    only_text = str(cfg.get("only-nodes", ""))
    only = [str(n) for n in json.loads(only_text)] if only_text else None
    doc = run_job(grid, signed_json, min_nodes=int(cfg["min-nodes"]),
                  wait=float(cfg["wait-nodes"]), timeout=float(cfg["timeout"]),
                  known=known, only=only)  # fmt: skip
    write_result(result_path, doc)
    if cache is not None and known is not None:
        write_result(cache, {str(k): v for k, v in known.items()})


def read_known(path: Path) -> dict[int, str]:
    """The node-id-to-name cache of earlier runs (empty when missing or unreadable)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {int(k): str(v) for k, v in raw.items()}
    except (OSError, ValueError, AttributeError):
        return {}


__all__ = ["app", "main", "read_known", "write_result"]
