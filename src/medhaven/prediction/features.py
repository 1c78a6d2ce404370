"""Leakage-safe features of a study population, in SQL on the CDM store, as a sparse matrix.

Only records dated on or before the index date are read: window ``w`` covers
``index - w .. index``, both ends included (the index day counts, as in
OHDSI FeatureExtraction's long-term window ``-365..0``). Dates used: condition
start, drug exposure start, procedure date, measurement date. Concept 0
(unmapped) is skipped, as FeatureExtraction does.

Feature ids follow FeatureExtraction's ``covariateId = conceptId * 1000 +
analysisId``, so a concept's features have the same id at every site. For
the ``j``-th window of the spec (``j`` = 1..9):

============================  ===================  ============================
feature                       analysis id          value
============================  ===================  ============================
sex (gender concept, 0 =      1                    1
unknown)
age group (5-year; the        3                    1
"concept" is age // 5)
condition occurrence / count  100 + j / 110 + j    1 / records in the window
drug occurrence / count       400 + j / 410 + j    1 / records in the window
procedure occurrence / count  700 + j / 710 + j    1 / records in the window
measurement occurrence /      800 + j / 810 + j    1 / records in the window
count
measurement latest / min /    820 + j / 830 + j /  ``value_as_number`` as
max value                     840 + j              recorded (unit as is)
============================  ===================  ============================

Drugs are counted at the RxNorm ingredient (every ``Ingredient`` ancestor in
``concept_ancestor``; a drug with none counts as recorded) unless the spec
says ``"as recorded"``. The latest value is that of the most recent
measurement with a value (the highest ``measurement_id`` on a tie). Age is
the index year minus the year of birth (FeatureExtraction's rule). The matrix
is sparse: an absent feature and a value of exactly 0 read the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy import sparse

from medhaven.cdm import CdmStore
from medhaven.errors import InvalidInput
from medhaven.prediction.data import PredictionData
from medhaven.prediction.population import Population
from medhaven.prediction.task import FeatureSpec

SEX_ANALYSIS = 1
AGE_GROUP_ANALYSIS = 3
COUNT_OFFSET = 10
LATEST_OFFSET, MIN_OFFSET, MAX_OFFSET = 20, 30, 40
GENDER_LABELS = {8507: "male", 8532: "female", 0: "unknown"}


@dataclass(frozen=True)
class DomainTable:
    """Where one domain's records live in the CDM."""

    base: int
    table: str
    concept: str
    date: str


DOMAINS: dict[str, DomainTable] = {
    "condition": DomainTable(100, "condition_occurrence", "condition_concept_id",
                             "condition_start_date"),
    "drug": DomainTable(400, "drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": DomainTable(700, "procedure_occurrence", "procedure_concept_id",
                             "procedure_date"),
    "measurement": DomainTable(800, "measurement", "measurement_concept_id", "measurement_date"),
}  # fmt: skip

_INGREDIENTS = (
    "(SELECT ca.descendant_concept_id AS drug_id, ca.ancestor_concept_id AS ingredient_id "
    "FROM concept_ancestor ca JOIN concept ic ON ic.concept_id = ca.ancestor_concept_id "
    "WHERE ic.concept_class_id = 'Ingredient')"
)


def window_label(days: int) -> str:
    """How a window appears in feature names: ``[-365..0]``."""
    return f"[-{days}..0]"


def domain_sql(store: CdmStore, pop: str, domain: str, spec: FeatureSpec) -> str:
    """One row per (population row, concept) with per-window counts (and value stats)."""
    d = DOMAINS[domain]
    longest = max(spec.windows)
    join, concept = "", f"x.{d.concept}"
    if domain == "drug" and spec.drug_level == "ingredient":
        join = f"LEFT JOIN {_INGREDIENTS} ing ON ing.drug_id = x.drug_concept_id"
        concept = "COALESCE(ing.ingredient_id, x.drug_concept_id)"
    extra = ""
    if domain == "measurement":
        extra = ", CAST(x.value_as_number AS DOUBLE PRECISION) AS v, x.measurement_id AS eid"
    cols = [f"COUNT(*) FILTER (WHERE e.before <= {int(w)}) AS n{j}"
            for j, w in enumerate(spec.windows)]  # fmt: skip
    if domain == "measurement" and spec.measurement_values:
        has = "e.v IS NOT NULL"
        cols += [f"MIN(e.v) FILTER (WHERE {has} AND e.before <= {int(w)}) AS lo{j}"
                 for j, w in enumerate(spec.windows)]  # fmt: skip
        cols += [f"MAX(e.v) FILTER (WHERE {has} AND e.before <= {int(w)}) AS hi{j}"
                 for j, w in enumerate(spec.windows)]  # fmt: skip
        cols.append(f"MIN(e.before) FILTER (WHERE {has}) AS latest_before")
        if store.dialect == "duckdb":
            cols.append(f"arg_min(e.v, (e.before, -e.eid)) FILTER (WHERE {has}) AS latest")
        else:
            cols.append(
                f"(ARRAY_AGG(e.v ORDER BY e.before, e.eid DESC) FILTER (WHERE {has}))[1] AS latest"
            )
    return f"""
        WITH e AS (
            SELECT p.pos, {concept} AS concept_id, p.index_date - x.{d.date} AS before{extra}
            FROM {pop} p JOIN {d.table} x ON x.person_id = p.person_id
            {join}
            WHERE x.{d.date} <= p.index_date AND x.{d.date} >= p.index_date - {int(longest)}
              AND x.{d.concept} <> 0
        )
        SELECT e.pos, e.concept_id, {", ".join(cols)}
        FROM e GROUP BY e.pos, e.concept_id
    """


class _Builder:
    """Collects (row, feature id, value) triplets and feature names."""

    def __init__(self) -> None:
        self.rows: list[npt.NDArray[np.int64]] = []
        self.ids: list[npt.NDArray[np.int64]] = []
        self.vals: list[npt.NDArray[np.float64]] = []
        self.kinds: dict[int, str] = {}  # analysis id -> name prefix
        self.candidates: list[npt.NDArray[np.int64]] = []  # every id used (few, to sort)
        self._unique = np.zeros(0, np.int64)
        self._inverse = np.zeros(0, np.int64)

    def concepts(self, concepts: npt.NDArray[np.int64]) -> None:
        """Declare the concept column the next ``add`` calls use (sorted once, not per call)."""
        self._unique, inverse = np.unique(concepts, return_inverse=True)
        self._inverse = inverse.ravel()

    def add(self, rows: npt.NDArray[np.int64], concepts: npt.NDArray[np.int64], analysis: int,
            values: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_], name: str) -> None:  # fmt: skip
        if not mask.any():
            return
        self.rows.append(rows[mask])
        self.ids.append(concepts[mask] * 1000 + analysis)
        self.vals.append(values[mask].astype(np.float64))
        present = np.bincount(self._inverse[mask], minlength=self._unique.size) > 0
        self.candidates.append(self._unique[present] * 1000 + analysis)
        self.kinds[analysis] = name


def _floats(table: pa.Table, i: int) -> npt.NDArray[np.float64]:
    """Column ``i`` as float64, NULL as NaN."""
    col = table.column(i).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(col, dtype=np.float64)


def _ints(table: pa.Table, i: int) -> npt.NDArray[np.int64]:
    """Column ``i`` (no NULLs) as int64."""
    col = table.column(i).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return np.asarray(col, dtype=np.int64)


def _domain(store: CdmStore, pop: str, domain: str, spec: FeatureSpec, b: _Builder) -> None:
    d = DOMAINS[domain]
    t = store.fetch_arrow(domain_sql(store, pop, domain, spec))
    if t.num_rows == 0:
        return
    rows = _ints(t, 0)
    concepts = _ints(t, 1)
    b.concepts(concepts)
    k = len(spec.windows)
    for j, w in enumerate(spec.windows, start=1):
        n = _floats(t, 1 + j)
        has = n > 0
        b.add(
            rows,
            concepts,
            d.base + j,
            np.ones_like(n),
            has,
            f"{domain} occurrence {window_label(w)}",
        )
        if spec.counts:
            b.add(rows, concepts, d.base + COUNT_OFFSET + j, n, has,
                  f"{domain} count {window_label(w)}")  # fmt: skip
    if domain == "measurement" and spec.measurement_values:
        latest_before = _floats(t, 2 + 3 * k)
        latest = _floats(t, 3 + 3 * k)
        for j, w in enumerate(spec.windows, start=1):
            lo = _floats(t, 1 + k + j)
            hi = _floats(t, 1 + 2 * k + j)
            in_window = ~np.isnan(latest) & (latest_before <= w)
            b.add(rows, concepts, d.base + LATEST_OFFSET + j, latest, in_window,
                  f"measurement latest value {window_label(w)}")  # fmt: skip
            b.add(rows, concepts, d.base + MIN_OFFSET + j, lo, ~np.isnan(lo),
                  f"measurement min value {window_label(w)}")  # fmt: skip
            b.add(rows, concepts, d.base + MAX_OFFSET + j, hi, ~np.isnan(hi),
                  f"measurement max value {window_label(w)}")  # fmt: skip


def _concept_names(store: CdmStore, ids: npt.NDArray[np.int64]) -> dict[int, str]:
    names: dict[int, str] = {}
    unique = np.unique(ids)
    for start in range(0, unique.size, 5000):
        chunk = ", ".join(str(int(i)) for i in unique[start : start + 5000])
        for cid, name in store.fetchall(
            f"SELECT concept_id, concept_name FROM concept WHERE concept_id IN ({chunk})"
        ):
            names[int(cid)] = str(name)
    return names


def _upload(store: CdmStore, population: Population) -> str:
    name = f"mh_feat_pop_{uuid.uuid4().hex[:10]}"
    store.execute(f"CREATE TEMP TABLE {name} (pos BIGINT, person_id BIGINT, index_date DATE)")
    data = pa.table({
        "pos": pa.array(np.arange(population.rows, dtype=np.int64)),
        "person_id": pa.array(population.person_id.astype(np.int64)),
        "index_date": pa.array(population.index_date.astype("datetime64[D]"), type=pa.date32()),
    })  # fmt: skip
    store.append_arrow(name, data)
    if store.dialect == "postgresql":
        store.execute(f"ANALYZE {name}")
    return name


def _gender_label(cid: int, names: dict[int, str]) -> str:
    if cid in GENDER_LABELS:
        return GENDER_LABELS[cid]
    return names.get(cid, f"gender concept {cid}").lower()


def extract_features(
    store: CdmStore, population: Population, spec: FeatureSpec, *, site: str = ""
) -> PredictionData:
    """The population's features (only records dated on or before each index date)."""
    unknown = [d for d in spec.domains if d not in DOMAINS]
    if unknown:
        raise InvalidInput(f"features: unknown domain {unknown[0]!r}")
    n = population.rows
    b = _Builder()
    pop = _upload(store, population)
    try:
        for domain in spec.domains:
            _domain(store, pop, domain, spec, b)
        demo = store.fetch_arrow(
            f"SELECT p.pos, COALESCE(pe.gender_concept_id, 0) AS gender, "
            f"CAST(EXTRACT(YEAR FROM p.index_date) AS INTEGER) - pe.year_of_birth AS age "
            f"FROM {pop} p JOIN person pe ON pe.person_id = p.person_id ORDER BY p.pos"
        )
    finally:
        store.execute(f"DROP TABLE IF EXISTS {pop}")
    if demo.num_rows != n:
        raise InvalidInput("features: a population row's person is missing from the person table")
    gender = _ints(demo, 1)
    age = np.maximum(_ints(demo, 2), 0)
    rows = np.arange(n, dtype=np.int64)
    if spec.demographics:
        ones, every = np.ones(n), np.ones(n, dtype=bool)
        b.concepts(gender)
        b.add(rows, gender, SEX_ANALYSIS, ones, every, "sex")
        b.concepts(age // 5)
        b.add(rows, age // 5, AGE_GROUP_ANALYSIS, ones, every, "age group")
    all_rows = np.concatenate(b.rows) if b.rows else np.zeros(0, np.int64)
    all_ids = np.concatenate(b.ids) if b.ids else np.zeros(0, np.int64)
    all_vals = np.concatenate(b.vals) if b.vals else np.zeros(0, np.float64)
    feature_ids = np.unique(np.concatenate(b.candidates)) if b.candidates else all_ids
    cols = np.searchsorted(feature_ids, all_ids)
    X = sparse.csr_matrix((all_vals, (all_rows, cols)), shape=(n, feature_ids.size))
    X.sum_duplicates()
    X.eliminate_zeros()
    X.sort_indices()
    concept_names = _concept_names(store, np.concatenate([feature_ids // 1000, gender]))
    names = [_feature_name(int(f), b, concept_names) for f in feature_ids]
    genders, g_inv = np.unique(gender, return_inverse=True)
    labels = np.array([_gender_label(int(g), concept_names) for g in genders], dtype=np.str_)
    decades, d_inv = np.unique(age // 10, return_inverse=True)
    bands = np.array([f"{10 * d}-{10 * d + 9}" for d in decades.tolist()], dtype=np.str_)
    return PredictionData(X=X, y=population.label.astype(np.int8),
                          feature_ids=feature_ids.astype(np.int64), feature_names=names,
                          subgroups={"sex": labels[g_inv.ravel()],
                                     "age_group": bands[d_inv.ravel()]}, site=site,
                          attrition=list(population.attrition))  # fmt: skip


def _feature_name(fid: int, b: _Builder, concepts: dict[int, str]) -> str:
    concept, analysis = divmod(fid, 1000)
    kind = b.kinds[analysis]
    if analysis == SEX_ANALYSIS:
        return f"sex: {_gender_label(concept, concepts)}"
    if analysis == AGE_GROUP_ANALYSIS:
        return f"age group: {5 * concept}-{5 * concept + 4}"
    return f"{kind}: {concepts.get(concept, f'concept {concept}')}"


__all__ = ["DOMAINS", "DomainTable", "domain_sql", "extract_features", "window_label"]
