"""A local prediction study: population, features, fit, evaluation, model card, from one spec.

A study spec (JSON) names a task (:class:`~.task.PredictionTask`, with its
:class:`~.task.FeatureSpec`), a model (:class:`~.models.ModelSpec`) and the
data: one or more CDMs, each with a role. ``"train"`` sites are split into a
training part and an internal test part (stratified by outcome, per site,
``test_fraction`` and ``seed``); the model is fitted on the training parts
together; ``"validate"`` sites are never trained on and give an external
validation each. Everything runs in this process against the stores named in
the spec (which must be writable: the cohorts are generated into them).

What is written to ``--out`` passes the disclosure policy: the model card
(JSON and HTML), the TRIPOD+AI checklist and the model bundle, after the
model-release check (persons and, for trees, leaf sizes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from scipy import sparse

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.config import get_settings
from medhaven.errors import InvalidInput, NotFound
from medhaven.prediction.card import build_card, write_card
from medhaven.prediction.data import PredictionData
from medhaven.prediction.evaluate import evaluate
from medhaven.prediction.models import ModelSpec, TrainedModel, fit
from medhaven.prediction.node_dp import DPParams
from medhaven.prediction.task import FeatureSpec, PredictionTask

MODEL_BUNDLE = "model.json"
SUMMARY_KEYS = ("auroc", "auprc", "brier", "calibration_slope")


class SiteSpec(BaseModel):
    """One CDM of the study: a DuckDB path (relative to the spec file) or a PostgreSQL URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    cdm: str = Field(min_length=1)
    role: Literal["train", "validate"]


DatasetRef = int | str
#: the model kinds whose federated rounds are sums (``hub.secure_aggregation``)
SECURE_KINDS = ("logistic_l2", "mlp")


class HubStudySpec(BaseModel):
    """A federated study's hub section: the project, and hub datasets (id or name) by role."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    project: int = Field(ge=1)
    train: list[DatasetRef] = Field(min_length=1)
    validate_at: list[DatasetRef] = Field(default_factory=list, alias="validate")
    min_nodes: int | None = Field(default=None, ge=1)
    rounds: int = Field(default=25, ge=1, le=500)
    l2: float = Field(default=1.0, ge=0.0)
    timeout: float = Field(default=900.0, gt=0.0)
    dp: DPParams | None = None  # mlp: each node clips, noises and charges its budget
    xgb_mode: Literal["cyclic", "bagging"] = "cyclic"  # xgboost: Flower's FedXgbCyclic/Bagging
    secure_aggregation: bool = False  # logistic_l2, mlp: the hub sees only the nodes' sum

    @field_validator("train", "validate_at")
    @classmethod
    def _named(cls, refs: list[DatasetRef]) -> list[DatasetRef]:
        for i, ref in enumerate(refs):
            if isinstance(ref, str) and not ref.strip():
                raise ValueError(f"item {i} is empty: give a dataset id or name")
        return refs

    @model_validator(mode="after")
    def _refs(self) -> HubStudySpec:
        refs = [*self.train, *self.validate_at]
        if len(set(refs)) != len(refs):
            raise ValueError("a dataset is listed twice")
        if self.min_nodes is not None and self.min_nodes > len(self.train):
            raise ValueError("min_nodes: more than the number of train datasets")
        return self


class StudySpec(BaseModel):
    """The whole study; ``features`` may be given here or inside ``task`` (not both).

    ``mode`` ``"local"`` (the default) reads the CDMs of ``data``;
    ``"federated"`` names hub datasets in ``hub`` instead (no ``data``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    title: str | None = None
    mode: Literal["local", "federated"] = "local"
    task: PredictionTask
    features: FeatureSpec | None = None
    model: ModelSpec
    data: list[SiteSpec] = Field(default_factory=list)
    hub: HubStudySpec | None = None
    test_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    seed: int = 1
    min_cell_count: int | None = Field(default=None, ge=1)
    min_train_persons: int = Field(default=100, ge=1)
    intended_use: dict[str, str] = Field(default_factory=dict)
    limitations: list[str] = Field(default_factory=list)
    reporting: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sites(self) -> StudySpec:
        if self.mode == "federated":
            if self.hub is None:
                raise ValueError("mode 'federated' needs a hub section (project, train, validate)")
            if self.data:
                raise ValueError("data (CDM stores) is for mode 'local'; a federated study "
                                 "names hub datasets in hub.train and hub.validate")  # fmt: skip
        elif self.hub is not None:
            raise ValueError("hub is only for mode 'federated'")
        elif not self.data:
            raise ValueError("data: at least one site is needed in mode 'local'")
        if self.features is not None and "features" in self.task.model_fields_set:
            raise ValueError("features are given both at the top level and inside task")
        if self.mode == "federated":
            assert self.hub is not None
            if self.hub.secure_aggregation and self.model.kind not in SECURE_KINDS:
                raise ValueError(f"hub.secure_aggregation: for {' and '.join(SECURE_KINDS)} "
                                 f"only, not {self.model.kind}")  # fmt: skip
            return self
        names = [s.site for s in self.data]
        if len(set(names)) != len(names):
            raise ValueError("a site is listed twice")
        if not any(s.role == "train" for s in self.data):
            raise ValueError("no site has role 'train'")
        return self

    def study_task(self) -> PredictionTask:
        """The task with the spec's features (top level wins when given)."""
        if self.features is None:
            return self.task
        return self.task.model_copy(update={"features": self.features})


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_spec(path: Path) -> StudySpec:
    """Read and validate a study spec; errors name the file and the field."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{path}: no such study spec") from None
    except (OSError, UnicodeDecodeError):
        raise InvalidInput(f"{path}: cannot read the file as UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path}: expected a JSON object")
    try:
        spec = StudySpec.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        if len(loc) >= 3 and loc[0] == "task" and loc[1] in ("target_cohort", "outcome_cohort"):
            loc = loc[:2]
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise InvalidInput(f"{path}: {_where(loc)}: {msg}") from None
    task = spec.study_task()
    for check in (task.target_expression, task.outcome_expression):
        try:
            check()
        except (InvalidInput, NotFound) as exc:
            raise type(exc)(f"{path}: task: {exc.message}") from None
    if spec.mode == "federated":
        return spec
    base = path.resolve().parent
    sites = [s if _is_url(s.cdm) or Path(s.cdm).is_absolute()
             else s.model_copy(update={"cdm": str(base / s.cdm)}) for s in spec.data]  # fmt: skip
    for i, s in enumerate(sites):
        if not _is_url(s.cdm) and not Path(s.cdm).is_file():
            raise NotFound(f"{path}: data[{i}].cdm: no CDM store at {s.cdm}")
    return spec.model_copy(update={"data": sites})


def _is_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def site_data(site: SiteSpec, task: PredictionTask) -> PredictionData:
    """Population and features of one site (run where the data are)."""
    from medhaven.cdm.store import opened
    from medhaven.prediction.features import extract_features
    from medhaven.prediction.population import study_population

    with opened(site.cdm) as store:
        population = study_population(store, task)
        return extract_features(store, population, task.features, site=site.site)


def stack(parts: Sequence[PredictionData]) -> tuple[PredictionData, npt.NDArray[np.str_]]:
    """Rows of several sites in one feature space (the union of their ids), and each row's site."""
    ids = np.unique(np.concatenate([p.feature_ids for p in parts])).astype(np.int64)
    names: dict[int, str] = {}
    for p in parts:
        names.update(zip(p.feature_ids.tolist(), p.feature_names, strict=True))
    aligned = [p.align(ids, [names[int(i)] for i in ids]) for p in parts]
    keys = set.intersection(*(set(p.subgroups) for p in parts))
    site = np.concatenate([np.full(p.rows, p.site, dtype=object) for p in parts]).astype(np.str_)
    data = PredictionData(
        X=sparse.csr_matrix(sparse.vstack([a.X for a in aligned], format="csr")),
        y=np.concatenate([a.y for a in aligned]).astype(np.int8),
        feature_ids=ids,
        feature_names=aligned[0].feature_names,
        subgroups={k: np.concatenate([p.subgroups[k] for p in parts]) for k in sorted(keys)},
        site="+".join(p.site for p in parts),
    )
    return data, site


def split(data: PredictionData, *, fraction: float, seed: int) -> npt.NDArray[np.bool_]:
    """A test mask: ``fraction`` of the rows with and of the rows without the outcome."""
    rng = np.random.default_rng(seed)
    test = np.zeros(data.rows, dtype=bool)
    for cls in (0, 1):
        rows = np.flatnonzero(data.y == cls)
        k = round(rows.size * fraction)
        test[rng.choice(rows, size=k, replace=False)] = True
    return test


@dataclass(frozen=True)
class StudyResult:
    """What a study run leaves: the card, the files written, the summary."""

    card: dict[str, Any]
    files: dict[str, Path]
    summary: dict[str, Any]


def _headline(ev: dict[str, Any]) -> dict[str, Any]:
    metrics = ev.get("metrics") or {}
    out: dict[str, Any] = {k: metrics.get(k) for k in SUMMARY_KEYS}
    out.update(n=ev.get("n"), outcomes=ev.get("outcomes"), released=ev.get("released"))
    return out


def _task_json(task: PredictionTask) -> dict[str, Any]:
    doc = task.model_dump(mode="json", exclude={"features"})
    for key in ("target_cohort", "outcome_cohort"):
        if isinstance(doc[key], dict):
            doc[key] = "inline cohort definition"
    return doc


def _handling(spec: FeatureSpec) -> str:
    parts = [f"occurrence per look-back window ({', '.join(str(w) for w in spec.windows)} days)"]
    if spec.counts:
        parts.append("record counts per window")
    if spec.measurement_values:
        parts.append("latest and extreme measurement values")
    if spec.demographics:
        parts.append("sex and 5-year age group at the index date")
    return "; ".join(parts) + f"; domains: {', '.join(spec.domains)}"


def card_features(task: PredictionTask, model: TrainedModel) -> dict[str, Any]:
    """The model card's ``features`` section (local and federated studies alike)."""
    return {
        "spec": task.features.model_dump(mode="json"),
        "count": model.n_features,
        "missing_data": "no imputation: a feature without a record in its window is 0",
        "handling": _handling(task.features),
    }


def card_model(model: TrainedModel, bundle: dict[str, Any]) -> dict[str, Any]:
    """The model card's ``model`` section, naming the bundle by its sha256."""
    return {
        "kind": model.kind,
        "hyperparameters": model.hyperparameters,
        "features": model.n_features,
        "seed": model.seed,
        "bundle_sha256": bundle["sha256"],
        "training": model.training,
        "output": "predicted probability of the outcome in the time at risk",
    }


def run_study(spec: StudySpec, out: Path) -> StudyResult:
    """Run the study and write the card, TRIPOD+AI checklist and model bundle into ``out``."""
    from medhaven.prediction.release import require_model_release

    if spec.mode != "local":
        raise InvalidInput(f"study {spec.name}: mode {spec.mode} runs through the hub "
                           "(medhaven study run with a hub login)")  # fmt: skip
    started = time.perf_counter()
    task = spec.study_task()
    # The node's minimum (MEDHAVEN_MIN_CELL_COUNT) is a floor: a spec may raise it, never lower it.
    policy = DisclosurePolicy(
        min_cell_count=max(get_settings().min_cell_count, spec.min_cell_count or 1)
    )
    train_sites = [s for s in spec.data if s.role == "train"]
    validate_sites = [s for s in spec.data if s.role == "validate"]
    train_parts, test_parts = [], []
    for s in train_sites:
        d = site_data(s, task)
        if d.rows == 0:
            raise InvalidInput(f"study {spec.name}: site {s.site} has nobody in the population")
        mask = split(d, fraction=spec.test_fraction, seed=spec.seed)
        train_parts.append(d.subset(~mask))
        test_parts.append(d.subset(mask))
    train, _ = stack(train_parts)
    model: TrainedModel = fit(spec.model, train, min_cell_count=policy.min_cell_count)
    require_model_release(model, n_train=train.rows, min_patients=spec.min_train_persons,
                          min_cell_count=policy.min_cell_count, rows=train.X)  # fmt: skip
    test, hospital = stack(test_parts)
    internal = evaluate(test.y, model.predict(test),
                        groups={**test.subgroups, "hospital": hospital}, policy=policy)  # fmt: skip
    external: dict[str, Any] = {}
    validate_attrition: dict[str, list[dict[str, Any]]] = {}
    for s in validate_sites:
        d = site_data(s, task)
        validate_attrition[s.site] = d.attrition
        if d.rows == 0:
            raise InvalidInput(f"study {spec.name}: site {s.site} has nobody in the population")
        external[s.site] = evaluate(d.y, model.predict(d), groups=d.subgroups, policy=policy)
    bundle = model.to_bundle()
    sites = [{"site": p.site, "role": "train", "attrition": p.attrition} for p in train_parts]
    sites += [{"site": s.site, "role": "validate", "attrition": validate_attrition[s.site]}
              for s in validate_sites]  # fmt: skip
    card = build_card(
        title=spec.title or spec.name,
        intended_use=spec.intended_use,
        task=_task_json(task),
        features=card_features(task, model),
        model=card_model(model, bundle),
        sites=sites,
        evaluation_design={
            "internal": f"stratified random split of each training site, "
            f"{spec.test_fraction:g} held out (seed {spec.seed})",
            "external": [s.site for s in validate_sites],
            "test_fraction": spec.test_fraction,
            "seed": spec.seed,
        },
        performance={"internal": internal, "external": external},
        limitations=spec.limitations,
        reporting=spec.reporting,
        policy=policy,
    )
    files = write_card(card, out)
    files["model"] = out / MODEL_BUNDLE
    files["model"].write_text(json.dumps(bundle), encoding="utf-8")
    summary = {
        "study": spec.name,
        "model": model.kind,
        "internal": _headline(internal),
        "external": {site: _headline(ev) for site, ev in external.items()},
        "wall_seconds": round(time.perf_counter() - started, 3),
        "files": {k: str(v) for k, v in files.items()},
    }
    return StudyResult(card=card, files=files, summary=summary)


__all__ = ["MODEL_BUNDLE", "HubStudySpec", "SiteSpec", "StudyResult", "StudySpec", "load_spec", "run_study",
           "site_data", "split", "stack"]  # fmt: skip
