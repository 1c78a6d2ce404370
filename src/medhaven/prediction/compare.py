"""``medhaven study compare``: local-only, federated and pooled training on generated hospitals.

The generator writes ``hospitals`` non-IID hospitals (``persons`` each,
``seed``); the task is the demo one (heart-failure admission within a year
of a first essential-hypertension diagnosis). Each hospital's study
population is split (stratified, ``test_fraction``, ``seed``) into a
training part and a test part; the **common test set** is every hospital's
test part together, and every model below is evaluated on it:

* ``local``: the model trained at each hospital alone on its training part
  (:func:`~.models.fit`); the headline is the mean over the hospitals, each
  hospital's figures are under ``sites``;
* ``federated``: a signed ``train`` job run by the same node code as a real
  deployment (:mod:`.node_training`): over real Flower processes on loopback
  (a SuperLink and one SuperNode per hospital, ``"transport": "flower"``), or
  in this process (``"transport": "in_process"``); logistic_l2 is trained by
  Newton steps, logistic_l1 by proximal Newton steps (the job's ``l1``;
  local and pooled are trained with ``C = 1/l1``: the same objective, see
  below), mlp by FedAvg (``MLP_LOCAL_EPOCHS`` epochs
  a round, ``ceil(max_iter / MLP_LOCAL_EPOCHS)`` rounds: as many passes as
  the pooled fit, with its ``alpha``, step size and batch size), lightgbm by bagging, xgboost cyclic or
  bagging as Flower's XGBoost strategies (the nodes enforce a minimum cell
  count of 5 on every leaf; local and pooled xgboost are trained under the
  same minimum, so all three share the hyperparameters);
* ``pooled``: every training part concatenated, trained in one place with
  :func:`~.models.fit` (a simulation only: the point of federation is that
  nobody can do this).

logistic_l1: the federated fit solves the pooled fit's objective
(liblinear's, :mod:`.federated_l1`): the summed log-likelihood minus
``l1`` times the absolute coefficients of the power-of-two scaled columns
and ``l1/10`` times the absolute intercept. At convergence the federated
coefficients are the pooled ones (up to liblinear's own tolerance).

``wall_seconds``: training time (the model fit for local and pooled; the
whole ``train`` job for federated, which includes each node building its
features; the process start-up is reported apart as ``setup_seconds``).
This is a simulation on one machine: patient rows are read in this process
to build the common test set.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.errors import InvalidInput
from medhaven.prediction.data import PredictionData
from medhaven.prediction.evaluate import evaluate
from medhaven.prediction.models import ModelSpec, TrainedModel, fit

DEMO_TASK: dict[str, Any] = {"name": "hf-1y-in-hypertension",
                             "target_cohort": "essential_hypertension",
                             "outcome_cohort": "heart_failure_admission",
                             "risk_window_start": 1, "risk_window_end": 365}  # fmt: skip
KEYS = ("auroc", "auprc", "brier", "calibration_slope")
SIMULATION_POLICY = DisclosurePolicy(min_cell_count=1)  # everything here stays on this machine
MIN_CELL = 5  # each generated node's minimum cell count
MLP_LOCAL_EPOCHS = 2  # mlp: epochs per FedAvg round; rounds = ceil(max_iter / local_epochs)
COMPARED = ("logistic_l2", "logistic_l1", "mlp", "lightgbm", "xgboost")


def _metrics(model: TrainedModel, test: PredictionData) -> dict[str, Any]:
    doc = evaluate(test.y, model.predict(test), policy=SIMULATION_POLICY)
    metrics = doc.get("metrics") or {}
    return {k: metrics.get(k) for k in KEYS}


def _node_configs(root: Path, key_pub: Path, names: list[str], min_cell: int) -> dict[str, Path]:
    out = {}
    for name in names:
        path = root / name / "node.toml"
        path.write_text(f'name = "{name}"\ncdm = "cdm.duckdb"\n'
                        f'accepted_kinds = ["train", "evaluate"]\n'
                        f'hub_public_key = "{key_pub}"\nmin_cell_count = {min_cell}\n'
                        f"min_train_persons = 20\n", encoding="utf-8")  # fmt: skip
        out[name] = path
    return out


def _federated(root: Path, names: list[str], params: dict[str, Any], *, transport: str,
               work: Path) -> tuple[dict[str, Any], float]:  # fmt: skip
    from medhaven.federation.jobs import (
        JobSpec,
        generate_hub_keypair,
        load_private_key,
        sign_job,
    )
    from medhaven.federation.node import NodeConfig
    from medhaven.prediction.node_training import in_process_exchange, run_training

    private, public = generate_hub_keypair(work / "hub-key")
    configs = _node_configs(root, public, names, min_cell=MIN_CELL)
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=f"compare-{uuid.uuid4().hex[:12]}", project="compare",
                   grant_id="compare", kind="train", parameters=params, targets=names,
                   expires_at=now + dt.timedelta(hours=6), issued_at=now)  # fmt: skip
    signed = sign_job(spec, load_private_key(private), "compare").to_json()
    if transport == "in_process":
        loaded = {n: NodeConfig.load(p) for n, p in configs.items()}
        return run_training(signed, in_process_exchange(signed, loaded), min_nodes=len(names),
                            transport="in_process"), 0.0  # fmt: skip
    from medhaven.federation.network import NetworkDispatcher
    from medhaven.federation.processes import start_superlink, start_supernode

    t0 = time.perf_counter()
    link = start_superlink(work / "run")
    nodes = []
    try:
        for path in configs.values():
            nodes.append(start_supernode(path, superlink=link.address, work=work / "run"))
        dispatcher = NetworkDispatcher(link.address, work / "spool", timeout=600, wait_nodes=60)
        dispatcher.session.ensure()
        setup = time.perf_counter() - t0
        try:
            doc = dispatcher(signed, min_nodes=len(names))
        finally:
            dispatcher.session.stop(wait=15)
    finally:
        for svc in nodes:
            svc.stop()
        link.stop()
    return doc, setup


def check_model(model: str) -> None:
    """Refuse a model kind that ``study compare`` cannot train three ways."""
    if model not in COMPARED:
        raise InvalidInput(f"--model: {model[:40]!r} is not one of {', '.join(COMPARED)}")


def compare(*, hospitals: int, persons: int, seed: int, model: str = "logistic_l2",
            transport: str = "flower", test_fraction: float = 0.25, l2: float = 1.0,
            l1: float = 1.0,
            rounds: int | None = None, work: Path | None = None,
            hyperparameters: dict[str, Any] | None = None,
            federated: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Generate the hospitals, train local/federated/pooled, evaluate on the common test set.

    ``hyperparameters`` (the model's, the same for the three trainings) and
    ``federated`` (more ``train`` job parameters: ``local_epochs``, ``mu``,
    ``xgb_mode`` ...) override the defaults. logistic_l1: ``l1`` is the
    federated penalty and ``C = 1/l1`` the local and pooled one (a ``C``
    in ``hyperparameters`` wins: then ``l1 = 1/C``).
    """
    from medhaven.prediction.study import split, stack
    from medhaven.prediction.task import parse_task
    from medhaven.synth.writer import CDM_FILE, write_hospitals

    if hospitals < 2:
        raise InvalidInput("--hospitals: a comparison needs at least 2 hospitals")
    if transport not in ("flower", "in_process"):
        raise InvalidInput("--transport: flower or in_process")
    check_model(model)
    if persons < 1:
        raise InvalidInput("--persons: at least 1")
    hyperparameters = dict(hyperparameters or {})
    if model == "logistic_l1":
        given = ModelSpec(kind="logistic_l1", hyperparameters=hyperparameters).resolved()["C"]
        if given is not None:
            l1 = 1.0 / float(given)
        elif not (l1 > 0 and np.isfinite(l1)):
            raise InvalidInput("--l1: must be a positive number")
        hyperparameters["C"] = 1.0 / l1
    spec = ModelSpec(kind=model, seed=seed, hyperparameters=hyperparameters)  # type: ignore[arg-type]
    spec.resolved()  # bad hyperparameters refused before anything is generated
    min_cell = MIN_CELL if model == "xgboost" else None
    with tempfile.TemporaryDirectory(prefix="medhaven-compare-") as tmp:
        base = work or Path(tmp)
        t0 = time.perf_counter()
        write_hospitals(base / "h", hospitals=hospitals, persons=persons, seed=seed)
        generate_s = time.perf_counter() - t0
        task = parse_task(DEMO_TASK)
        names = sorted(p.parent.name for p in (base / "h").glob(f"*/{CDM_FILE}"))
        from medhaven.cdm.store import opened
        from medhaven.prediction.features import extract_features
        from medhaven.prediction.population import study_population

        trains, tests = [], []
        for name in names:
            with opened(str(base / "h" / name / CDM_FILE)) as store:
                data = extract_features(store, study_population(store, task), task.features,
                                        site=name)  # fmt: skip
            mask = split(data, fraction=test_fraction, seed=seed)
            trains.append(data.subset(~mask))
            tests.append(data.subset(mask))
        test, _ = stack(tests)
        pooled_train, _ = stack(trains)
        # local
        local_sites: dict[str, Any] = {}
        local_s = 0.0
        for part in trains:
            t0 = time.perf_counter()
            m = fit(spec, part, min_cell_count=min_cell)
            local_s += time.perf_counter() - t0
            local_sites[part.site] = {**_metrics(m, test), "train_persons": part.rows}
        local: dict[str, Any] = {k: _mean([s[k] for s in local_sites.values()]) for k in KEYS}
        local.update(wall_seconds=round(local_s, 3), sites=local_sites,
                     headline="mean over the hospitals' own models")  # fmt: skip
        # pooled
        t0 = time.perf_counter()
        pooled_model = fit(spec, pooled_train, min_cell_count=min_cell)
        pooled = {**_metrics(pooled_model, test), "wall_seconds":
                  round(time.perf_counter() - t0, 3), "train_persons": pooled_train.rows,
                  "hyperparameters": _public(pooled_model.hyperparameters)}  # fmt: skip
        # federated
        params: dict[str, Any] = {"task": DEMO_TASK,
                                  "model": {"kind": model, "seed": seed,
                                            "hyperparameters": hyperparameters},
                                  "test_fraction": test_fraction, "seed": seed, "l2": l2, "l1": l1,
                                  "min_patients": 20}  # fmt: skip
        if model == "mlp":  # as many passes over the rows as the pooled fit's max_iter epochs
            epochs = (federated or {}).get("local_epochs", MLP_LOCAL_EPOCHS)
            if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
                raise InvalidInput("federated: local_epochs must be an integer >= 1")
            params["local_epochs"] = epochs
            params["rounds"] = -(-int(spec.resolved()["max_iter"]) // epochs)
        if rounds is not None:
            params["rounds"] = rounds
        params.update(federated or {})
        doc, setup_s = _federated(base / "h", names, params, transport=transport,
                                  work=base / "fed")  # fmt: skip
        if not doc.get("combined"):
            reasons = "; ".join(f"{r['node']}: {r['reason']}" for r in doc.get("nodes", [])
                                if r.get("reason"))  # fmt: skip
            raise InvalidInput(f"federated training {doc.get('status')}: "
                               f"{doc.get('reason') or reasons}")  # fmt: skip
        fed_model = TrainedModel.from_bundle(doc["combined"]["model"])
        federated = {**_metrics(fed_model, test), "wall_seconds": doc.get("seconds"),
                     "setup_seconds": round(setup_s, 3), "transport": transport,
                     "mode": fed_model.training.get("mode"),
                     "rounds": fed_model.training.get("rounds"),
                     "train_persons": fed_model.n_train, "status": doc.get("status"),
                     "sites": fed_model.training.get("sites"),
                     "hyperparameters": _public(fed_model.hyperparameters)}  # fmt: skip
    ratio = None
    if federated["auroc"] is not None and pooled["auroc"]:
        ratio = round(float(federated["auroc"]) / float(pooled["auroc"]), 6)
    return {"hospitals": hospitals, "persons": persons, "seed": seed, "model": model,
            "task": DEMO_TASK["name"], "test_set": "every hospital's held-out part "
            f"({test_fraction:g}, stratified, seed {seed}) together",
            "test_persons": test.rows, "generate_seconds": round(generate_s, 3),
            "local": local, "federated": federated, "pooled": pooled,
            "federated_pooled_auroc_ratio": ratio}  # fmt: skip


def _public(hp: dict[str, Any]) -> dict[str, Any]:
    """The resolved hyperparameters, as JSON (numbers, strings, lists)."""
    return {k: v for k, v in hp.items() if isinstance(v, int | float | str | list | None)}


def _mean(values: list[Any]) -> float | None:
    nums = [float(v) for v in values if v is not None]
    return round(float(np.mean(nums)), 6) if nums else None


__all__ = ["COMPARED", "DEMO_TASK", "check_model", "compare"]
