"""Dataset characterization equals an independent computation in plain Python, on both stores."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from typing import Any

import pytest
from test_characterize_data import (
    age_group,
    fill_eunomia,
    fill_hospital,
    percentile,
    rows,
    section,
    sex,
    small_counts,
    table_values,
)

from medhaven.analytics import DisclosurePolicy, characterize_dataset, release_dataset
from medhaven.cdm import CdmStore

DOMAINS = {
    "condition": ("condition_occurrence", "condition_concept_id"),
    "drug": ("drug_exposure", "drug_concept_id"),
    "procedure": ("procedure_occurrence", "procedure_concept_id"),
    "measurement": ("measurement", "measurement_concept_id"),
    "observation": ("observation", "observation_concept_id"),
}
QS = (0.10, 0.25, 0.50, 0.75, 0.90)


def _first_periods(store: CdmStore) -> dict[int, tuple[date, date]]:
    first: dict[int, tuple[date, date]] = {}
    for r in rows(store, "observation_period",
                  ["person_id", "observation_period_start_date", "observation_period_end_date"]):  # fmt: skip
        key = (r["observation_period_start_date"], r["observation_period_end_date"])
        if r["person_id"] not in first or key < first[r["person_id"]]:
            first[r["person_id"]] = key
    return first


def _expected(store: CdmStore) -> dict[str, Any]:
    people = rows(store, "person", ["person_id", "year_of_birth", "gender_concept_id"])
    first = _first_periods(store)
    by_age: Counter[str] = Counter()
    for p in people:
        op = first.get(p["person_id"])
        by_age[age_group(op[0].year - p["year_of_birth"] if op else None)] += 1
    lengths = [(e - s).days for s, e in first.values()]
    buckets: Counter[str] = Counter()
    for d in lengths:
        label = ("<1y" if d < 365 else "1-2y" if d < 730 else "2-5y" if d < 1826
                 else "5-10y" if d < 3652 else "10y+")  # fmt: skip
        buckets[label] += 1
    concepts: dict[str, dict[int, tuple[int, int]]] = {}
    for name, (table, col) in {
        **DOMAINS,
        "visit": ("visit_occurrence", "visit_concept_id"),
    }.items():
        persons: dict[int, set[int]] = defaultdict(set)
        records: Counter[int] = Counter()
        for r in rows(store, table, ["person_id", col]):
            persons[r[col]].add(r["person_id"])
            records[r[col]] += 1
        concepts[name] = {c: (len(persons[c]), records[c]) for c in persons}
    values: dict[tuple[int, int], list[float]] = defaultdict(list)
    who: dict[tuple[int, int], set[int]] = defaultdict(set)
    for r in rows(store, "measurement",
                  ["person_id", "measurement_concept_id", "unit_concept_id", "value_as_number"]):  # fmt: skip
        if r["value_as_number"] is not None:
            key = (r["measurement_concept_id"], r["unit_concept_id"] or 0)
            values[key].append(float(r["value_as_number"]))
            who[key].add(r["person_id"])
    return {
        "persons": len(people),
        "age": by_age,
        "sex": Counter(sex(p["gender_concept_id"]) for p in people),
        "yob": Counter(str(p["year_of_birth"]) for p in people),
        "buckets": buckets,
        "lengths": lengths,
        "concepts": concepts,
        "values": values,
        "who": who,
    }


def _check_stats(got: dict[str, Any], values: list[float]) -> None:
    assert got["min"] == pytest.approx(min(values))
    assert got["max"] == pytest.approx(max(values))
    for q, name in zip(QS, ("p10", "p25", "median", "p75", "p90"), strict=True):
        assert got[name] == pytest.approx(percentile(values, q), rel=1e-9, abs=1e-9)


def _check_raw(store: CdmStore) -> None:
    exp = _expected(store)
    doc = release_dataset(characterize_dataset(store, top=100_000, measurement_limit=100_000),
                          raw=True)  # fmt: skip
    assert doc["raw"] is True
    assert section(doc, "persons")["value"] == exp["persons"]
    ages = table_values(section(doc, "persons_by_age_group"))
    assert {k: v for k, v in ages.items() if v and k != "total"} == dict(exp["age"])
    assert ages["total"] == exp["persons"]
    assert {k: v for k, v in table_values(section(doc, "persons_by_sex")).items()
            if v and k != "total"} == dict(exp["sex"])  # fmt: skip
    yob = table_values(section(doc, "persons_by_year_of_birth"))
    assert {k: v for k, v in yob.items() if v and k != "total"} == dict(exp["yob"])
    buckets = table_values(section(doc, "observation_period_length"))
    assert {k: v for k, v in buckets.items() if v and k != "total"} == dict(exp["buckets"])
    (length,) = section(doc, "observation_period_days")["rows"]
    assert length["persons"] == len(exp["lengths"])
    _check_stats(length, [float(x) for x in exp["lengths"]])
    for name in [*DOMAINS, "visit"]:
        sec = section(doc, "visits_by_type" if name == "visit" else f"top_{name}")
        got = {r["concept_id"]: (r["persons"], r["records"]) for r in sec["rows"]}
        assert got == exp["concepts"][name], name
    dist = section(doc, "measurement_values")["rows"]
    assert {(r["concept_id"], r["unit_concept_id"]) for r in dist} == set(exp["values"])
    for r in dist:
        key = (r["concept_id"], r["unit_concept_id"])
        assert (r["persons"], r["records"]) == (len(exp["who"][key]), len(exp["values"][key]))
        _check_stats(r, exp["values"][key])


def _check_released(store: CdmStore) -> None:
    exp = _expected(store)
    policy = DisclosurePolicy()
    doc = release_dataset(characterize_dataset(store, top=100_000, measurement_limit=100_000),
                          policy)  # fmt: skip
    assert doc["raw"] is False
    assert small_counts(doc) == []  # no count from 1 to 4 anywhere in what leaves
    for name, counter in [("persons_by_age_group", exp["age"]), ("persons_by_sex", exp["sex"]),
                          ("persons_by_year_of_birth", exp["yob"])]:  # fmt: skip
        for label, value in table_values(section(doc, name)).items():
            true = exp["persons"] if label == "total" else counter.get(label, 0)
            if value is not None:
                assert value == true, (name, label)  # what is shown is the true count
            assert not 1 <= (value or 0) <= 4
            if 1 <= true <= 4:
                assert value is None, (name, label)  # every small count is hidden
    for name in DOMAINS:
        got = {r["concept_id"]: r["persons"] for r in section(doc, f"top_{name}")["rows"]}
        want = {c: p for c, (p, _) in exp["concepts"][name].items() if p >= 5}
        assert got == want, name  # top-N lists only concepts with at least 5 persons
    for r in section(doc, "measurement_values")["rows"]:
        key = (r["concept_id"], r["unit_concept_id"])
        if len(exp["who"][key]) < 5:
            assert r["suppressed"] and r["min"] is None and r["max"] is None
            assert r["median"] is None and r["persons"] is None
        else:
            assert not r["suppressed"]
            _check_stats(r, exp["values"][key])


def test_dataset_figures_match_independent_computation_on_generated_hospital(
    store: CdmStore,
) -> None:
    fill_hospital(store)
    _check_raw(store)
    _check_released(store)


@pytest.mark.slow
def test_dataset_figures_match_independent_computation_on_eunomia(
    store: CdmStore, reference: object
) -> None:
    fill_eunomia(store)
    _check_raw(store)
    _check_released(store)


def test_top_concepts_are_cut_at_top_and_ordered_by_persons(store: CdmStore) -> None:
    fill_hospital(store)
    doc = release_dataset(characterize_dataset(store, top=3))
    listed = section(doc, "top_condition")["rows"]
    assert len(listed) == 3
    persons = [r["persons"] for r in listed]
    assert persons == sorted(persons, reverse=True)
    every = _expected(store)["concepts"]["condition"]
    assert persons[0] == max(p for p, _ in every.values())
    assert all(r["concept_name"] for r in listed)  # names come from the concept table


def test_rounding_applies_after_suppression(store: CdmStore) -> None:
    fill_hospital(store)
    doc = release_dataset(characterize_dataset(store), DisclosurePolicy(rounding_base=10))
    for e in section(doc, "persons_by_year_of_birth")["table"]["entries"]:
        assert e["value"] is None or e["value"] % 10 == 0
    for r in section(doc, "top_drug")["rows"]:
        assert r["persons"] % 10 == 0


def test_record_count_dominated_by_one_person_is_hidden(store: CdmStore) -> None:
    fill_hospital(store)
    # A concept the hospital does not use: six persons, one of them with 60 records.
    rare = 4_000_000_001
    people = [r["person_id"] for r in rows(store, "person", ["person_id"])][:6]
    records = [(p, 60 if i == 0 else 1) for i, p in enumerate(people)]
    next_id = 10**9
    for person_id, n in records:
        for _ in range(n):
            next_id += 1
            store.execute(
                "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, "
                "condition_concept_id, condition_start_date, condition_type_concept_id) "
                "VALUES (?, ?, ?, ?, 32817)",
                [next_id, person_id, rare, date(2020, 1, 1)],
            )
    sections = characterize_dataset(store, top=100_000)
    released = {
        r["concept_id"]: r for r in section(release_dataset(sections), "top_condition")["rows"]
    }
    assert released[rare]["persons"] == 6
    assert released[rare]["records"] is None  # 60 of 65 records belong to one person
    raw = {
        r["concept_id"]: r
        for r in section(release_dataset(sections, raw=True), "top_condition")["rows"]
    }
    assert raw[rare]["records"] == 65
    common = max(raw.values(), key=lambda r: r["persons"])
    assert released[common["concept_id"]]["records"] == common["records"]
