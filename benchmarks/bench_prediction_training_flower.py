"""Federated vs pooled training with the Flower path included: ``study compare`` per model.

``bench_prediction_training`` times the federated algorithms in one process;
this module runs the same comparison as ``medhaven study compare``: a signed
``train`` job over real Flower processes on loopback (a SuperLink and one
SuperNode per generated hospital), against the pooled fit, both evaluated on
the common test set. Federated wall time is the whole job (each node builds
its features in the setup round; every round starts a ClientApp process);
pooled wall time is the model fit only.
"""

from __future__ import annotations

from benchmarks.result import Result

MODELS = ("logistic_l2", "mlp", "lightgbm", "xgboost")


def run(scale: float) -> list[Result]:
    """AUROC ratio and wall-time ratio, federated over Flower vs pooled, per model."""
    from medhaven.prediction.compare import compare

    persons = max(1000, int(5000 * scale))
    results: list[Result] = []
    for model in MODELS:
        doc = compare(hospitals=3, persons=persons, seed=1, model=model, transport="flower")
        fed, pooled = doc["federated"], doc["pooled"]
        note = (f"3 hospitals x {persons} persons, {doc['test_persons']} test persons; "
                f"{fed['mode']}, {fed['rounds']} rounds")  # fmt: skip
        results.append(Result(f"prediction over Flower: AUROC, {model}", float(fed["auroc"]),
                              "AUROC", f"pooled {model}", float(pooled["auroc"]),
                              "ratio >= 0.99", note))  # fmt: skip
        results.append(Result(f"prediction over Flower: wall time, {model}",
                              float(fed["wall_seconds"]), "s", f"pooled {model} (fit only)",
                              float(pooled["wall_seconds"]), "-",
                              f"process start-up {fed['setup_seconds']:.1f} s not included"))  # fmt: skip
    return results
