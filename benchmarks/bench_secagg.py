"""Secure aggregation (SecAgg+) against plain aggregation: the cost of hiding each node's vector.

The same signed ``train`` job (3 generated hospitals) runs twice per model
and transport, once plain and once with ``secure_aggregation: true``; the
row is the job's wall time (setup round to evaluation) and the note the
round trips each needed. A secure aggregation round is four round trips
(keys, encrypted shares, masked vectors, unmasking) instead of one, plus the
key agreement, Shamir sharing and mask generation at every node.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.result import Result

#: ``MEDHAVEN_BENCH_SECAGG_MODELS=logistic_l2`` runs Newton only
MODELS = tuple(os.environ.get("MEDHAVEN_BENCH_SECAGG_MODELS", "logistic_l2,mlp").split(","))
#: ``MEDHAVEN_BENCH_SECAGG_TRANSPORTS=in_process`` skips the (slow) Flower runs
TRANSPORTS = tuple(
    os.environ.get("MEDHAVEN_BENCH_SECAGG_TRANSPORTS", "in_process,flower").split(",")
)


def _train(root: Path, names: list[str], params: dict[str, Any], transport: str,
           work: Path) -> dict[str, Any]:  # fmt: skip
    from medhaven.prediction.compare import _federated

    doc, _setup = _federated(root, names, params, transport=transport, work=work)
    if not doc.get("combined"):
        why = doc.get("reason") or "; ".join(
            f"{r['node']}: {r['reason']}" for r in doc.get("nodes", []) if r.get("reason")
        )
        raise RuntimeError(f"federated training {doc.get('status')}: {why}")
    return doc


def run(scale: float) -> list[Result]:
    """Wall-time ratio secure / plain per model and transport; coefficient difference."""
    from medhaven.prediction.compare import DEMO_TASK
    from medhaven.prediction.models import TrainedModel
    from medhaven.prediction.secagg import error_bound
    from medhaven.synth.writer import CDM_FILE, write_hospitals

    persons = max(1500, int(3000 * scale))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="medhaven-bench-secagg-") as tmp:
        root = Path(tmp) / "h"
        write_hospitals(root, hospitals=3, persons=persons, seed=1)
        names = sorted(p.parent.name for p in root.glob(f"*/{CDM_FILE}"))
        for transport in TRANSPORTS:
            for model in MODELS:
                params: dict[str, Any] = {"task": DEMO_TASK, "model": {"kind": model, "seed": 1},
                                          "seed": 1, "l2": 1.0, "min_patients": 20,
                                          "rounds": 5 if model == "mlp" else 25}  # fmt: skip
                docs = {}
                for secure in (False, True):
                    work = Path(tmp) / f"{transport}-{model}-{secure}"
                    docs[secure] = _train(root, names, {**params, "secure_aggregation": secure},
                                          transport, work)  # fmt: skip
                plain, sec = docs[False], docs[True]
                note = (f"3 hospitals x {persons} persons; round trips {sec['combined']['rounds']} "
                        f"secure vs {plain['combined']['rounds']} plain")  # fmt: skip
                results.append(Result(f"secure aggregation: wall time, {model}, {transport}",
                                      float(sec["seconds"]), "s", "plain aggregation",
                                      float(plain["seconds"]), "-", note))  # fmt: skip
                if model == "logistic_l2" and transport == "in_process":
                    a = TrainedModel.from_bundle(sec["combined"]["model"]).weights
                    b = TrainedModel.from_bundle(plain["combined"]["model"]).weights
                    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))
                    results.append(Result("secure aggregation: max |coefficient - plain|, Newton",
                                          diff, "", "-", None, "< 1e-5",
                                          f"summed values off by < {error_bound(3):.1e} "
                                          "(3 nodes x a step of 2^-24)"))  # fmt: skip
    return results
