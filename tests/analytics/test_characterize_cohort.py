"""Cohort Table 1 equals an independent computation; missing cohorts fail with one clear line."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

import pytest
from test_characterize_data import (
    add_cohort,
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

from medhaven.analytics import (
    DisclosurePolicy,
    characterize_cohort,
    release_cohort,
)
from medhaven.cdm import CdmStore
from medhaven.errors import NotFound

PRIOR = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
}


def _make_cohort(store: CdmStore, cohort_id: int) -> dict[int, date]:
    """Persons with the most common condition, indexed at its first date; a second, later
    entry per person checks that Table 1 uses the first one. Returns the true index dates."""
    conds = rows(store, "condition_occurrence",
                 ["person_id", "condition_concept_id", "condition_start_date"])  # fmt: skip
    common = Counter(r["condition_concept_id"] for r in conds).most_common(1)[0][0]
    index: dict[int, date] = {}
    for r in conds:
        if r["condition_concept_id"] == common:
            d = r["condition_start_date"]
            index[r["person_id"]] = min(d, index.get(r["person_id"], d))
    entries = [(p, d, d + timedelta(days=30)) for p, d in index.items()]
    entries += [(p, d + timedelta(days=400), d + timedelta(days=430)) for p, d in index.items()]
    add_cohort(store, cohort_id, entries)
    return index


def _expected(store: CdmStore, index: dict[int, date]) -> dict[str, Any]:
    people = {p["person_id"]: p for p in rows(store, "person",
              ["person_id", "year_of_birth", "gender_concept_id"])}  # fmt: skip
    inside = {p: d for p, d in index.items() if p in people}

    def in_window(pid: int, d: date) -> bool:
        return pid in inside and inside[pid] - timedelta(days=365) <= d <= inside[pid]

    prior: dict[str, dict[int, int]] = {}
    for name, (table, col, day) in PRIOR.items():
        who: dict[int, set[int]] = defaultdict(set)
        for r in rows(store, table, ["person_id", col, day]):
            if in_window(r["person_id"], r[day]):
                who[r[col]].add(r["person_id"])
        prior[name] = {c: len(ps) for c, ps in who.items()}
    values: dict[tuple[int, int], list[float]] = defaultdict(list)
    measured: dict[tuple[int, int], set[int]] = defaultdict(set)
    for r in rows(store, "measurement", ["person_id", "measurement_concept_id",
                  "unit_concept_id", "value_as_number", "measurement_date"]):  # fmt: skip
        if r["value_as_number"] is not None and in_window(r["person_id"], r["measurement_date"]):
            key = (r["measurement_concept_id"], r["unit_concept_id"] or 0)
            values[key].append(float(r["value_as_number"]))
            measured[key].add(r["person_id"])
    return {
        "persons": len(inside),
        "age": Counter(age_group(d.year - people[p]["year_of_birth"]) for p, d in inside.items()),
        "sex": Counter(sex(people[p]["gender_concept_id"]) for p in inside),
        "prior": prior,
        "values": values,
        "measured": measured,
    }


def _check(store: CdmStore) -> int:
    """Compare every figure with the independent computation; return the persons compared."""
    index = _make_cohort(store, 11)
    exp = _expected(store, index)
    sections = characterize_cohort(store, 11, top=100_000, measurement_limit=100_000)
    raw = release_cohort(sections, 11, raw=True)
    assert section(raw, "persons")["value"] == exp["persons"]
    ages = table_values(section(raw, "persons_by_age_group"))
    assert {k: v for k, v in ages.items() if v and k != "total"} == dict(exp["age"])
    sexes = table_values(section(raw, "persons_by_sex"))
    assert {k: v for k, v in sexes.items() if v and k != "total"} == dict(exp["sex"])
    for name in PRIOR:
        got = {r["concept_id"]: r["persons"] for r in section(raw, f"prior_{name}")["rows"]}
        assert got == exp["prior"][name], name
    dist = section(raw, "prior_measurement_values")["rows"]
    assert {(r["concept_id"], r["unit_concept_id"]) for r in dist} == set(exp["values"])
    for r in dist:
        vals = exp["values"][(r["concept_id"], r["unit_concept_id"])]
        assert r["records"] == len(vals)
        assert r["median"] == pytest.approx(percentile(vals, 0.5))
        assert (r["min"], r["max"]) == (pytest.approx(min(vals)), pytest.approx(max(vals)))

    released = release_cohort(sections, 11, DisclosurePolicy())
    assert small_counts(released) == []
    assert small_counts(raw) != []  # the raw view does have small counts to hide
    for name in PRIOR:
        listed = section(released, f"prior_{name}")["rows"]
        want = {c: p for c, p in exp["prior"][name].items() if p >= 5}
        assert {r["concept_id"]: r["persons"] for r in listed} == want
        for r in listed:
            assert r["percent"] == pytest.approx(round(100 * r["persons"] / exp["persons"], 1))
    for r in section(released, "prior_measurement_values")["rows"]:
        small = len(exp["measured"][(r["concept_id"], r["unit_concept_id"])]) < 5
        assert r["suppressed"] is small
        if small:
            assert [r[k] for k in ("persons", "records", "min", "p10", "median", "max")] == [
                None
            ] * 6
    for label, value in table_values(section(released, "persons_by_age_group")).items():
        true = exp["persons"] if label == "total" else exp["age"].get(label, 0)
        assert value is None or value == true
        if 1 <= true <= 4:
            assert value is None
    return int(exp["persons"])


def test_table1_matches_independent_computation_on_generated_hospital(store: CdmStore) -> None:
    fill_hospital(store)
    assert _check(store) >= 5  # a real cohort was compared, not an empty one


@pytest.mark.slow
def test_table1_matches_independent_computation_on_eunomia(
    store: CdmStore, reference: object
) -> None:
    fill_eunomia(store)
    assert _check(store) >= 5  # a real cohort was compared, not an empty one


def test_small_cohort_releases_no_figure_but_raw_shows_it(store: CdmStore) -> None:
    fill_hospital(store)
    add_cohort(store, 3, [(1, date(2020, 1, 1), date(2020, 2, 1)),
                          (2, date(2020, 3, 1), date(2020, 4, 1))])  # fmt: skip
    sections = characterize_cohort(store, 3)
    released = release_cohort(sections, 3)
    assert section(released, "persons")["value"] is None
    assert section(released, "persons")["display"] == "<5"
    assert all(
        v is None or v == 0 for v in table_values(section(released, "persons_by_sex")).values()
    )
    for name in ("prior_condition", "prior_drug", "prior_procedure"):
        assert section(released, name)["rows"] == []
    assert all(r["suppressed"] for r in section(released, "prior_measurement_values")["rows"])
    assert section(release_cohort(sections, 3, raw=True), "persons")["value"] == 2


def test_unknown_cohort_id_is_not_found(store: CdmStore) -> None:
    fill_hospital(store)
    with pytest.raises(NotFound, match="cohort 99 has no rows"):
        characterize_cohort(store, 99)


def test_missing_cohort_table_is_not_found(store: CdmStore) -> None:
    fill_hospital(store)
    store.execute("DROP TABLE cohort")
    with pytest.raises(NotFound, match="no cohort table"):
        characterize_cohort(store, 1)
