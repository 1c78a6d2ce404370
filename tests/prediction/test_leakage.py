"""Leakage guard: no feature reads a record dated after the index date.

Records added after every person's index date (every domain, extreme
measurement values, new concepts) leave the feature matrix byte-identical;
the control adds one record on the index day and must change it, so the
test can fail. A property test over random dates compares a CDM holding
every record with one holding only the records dated on or before the index.
"""

from __future__ import annotations

import numpy as np

from medhaven.cdm import CdmStore, open_store
from medhaven.prediction.data import PredictionData
from medhaven.prediction.features import extract_features
from medhaven.prediction.task import FeatureSpec
from prediction.test_features import build, population
from prediction.tinycdm import TinyCdm

INDEX = {1: 400, 2: 200, 3: 300, 4: 50}
SPEC = FeatureSpec()


def fingerprint(data: PredictionData) -> bytes:
    X = data.X
    parts = [X.data.tobytes(), X.indices.tobytes(), X.indptr.tobytes(),
             data.feature_ids.tobytes(), "\n".join(data.feature_names).encode(),
             "\n".join(data.subgroups["sex"].tolist()).encode(),
             "\n".join(data.subgroups["age_group"].tolist()).encode()]  # fmt: skip
    return b"\x00".join(parts)


def add_future_events(cdm: TinyCdm, offset: int) -> None:
    """Records ``offset`` days after each index date, in every domain."""
    for pid, index in INDEX.items():
        d = index + offset
        cdm.condition(pid, 10, d)
        cdm.condition(pid, 777, d)
        cdm.drug(pid, 30, d)
        cdm.drug(pid, 778, d)
        cdm.procedure(pid, 40, d)
        cdm.measurement(pid, 50, d, 1e12)
        cdm.measurement(pid, 50, d, -1e12)
        cdm.measurement(pid, 779, d, 0.5)


def test_records_after_the_index_change_nothing(store: CdmStore) -> None:
    cdm = build(store)
    pop = population(INDEX)
    before = fingerprint(extract_features(store, pop, SPEC))
    for offset in (1, 2, 31, 181, 366, 5000):
        add_future_events(cdm, offset)
    assert fingerprint(extract_features(store, pop, SPEC)) == before


def test_control_a_record_on_the_index_day_changes_the_matrix(store: CdmStore) -> None:
    cdm = build(store)
    pop = population(INDEX)
    before = fingerprint(extract_features(store, pop, SPEC))
    cdm.measurement(2, 50, INDEX[2], 1e12)  # on the index day: must count
    assert fingerprint(extract_features(store, pop, SPEC)) != before


def test_random_dates_only_past_records_matter() -> None:
    rng = np.random.default_rng(20261203)
    index = {p: int(rng.integers(100, 900)) for p in range(1, 31)}
    stores = [open_store(":memory:"), open_store(":memory:")]
    try:
        cdms = [TinyCdm(s) for s in stores]
        for pid in index:
            yob = int(rng.integers(1930, 2010))
            for c in cdms:
                c.person(pid, yob=yob)
        for _ in range(600):
            pid = int(rng.integers(1, 31))
            d = index[pid] + int(rng.integers(-400, 400))
            kind = int(rng.integers(0, 4))
            concept = int(rng.integers(1, 6)) * 10 + kind
            value = float(rng.normal(0, 1e6))
            for c in cdms if d <= index[pid] else cdms[:1]:
                if kind == 0:
                    c.condition(pid, concept, d)
                elif kind == 1:
                    c.drug(pid, concept, d)
                elif kind == 2:
                    c.procedure(pid, concept, d)
                else:
                    c.measurement(pid, concept, d, value)
        pop = population(index)
        full, past = (extract_features(s, pop, SPEC) for s in stores)
        assert past.X.nnz > 100  # the past holds features: the comparison is not empty
        assert fingerprint(full) == fingerprint(past)
    finally:
        for s in stores:
            s.close()
