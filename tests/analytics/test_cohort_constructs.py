"""One construct at a time, on tiny hand-built CDMs, on DuckDB and PostgreSQL.

Expected rows are worked out by hand from Circe's documented semantics (the
dates are in the test, day 0 = 2020-01-01), never taken from the compiler.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from test_cohort_support import (
    TinyCdm,
    cohort_rows,
    correlated,
    cset,
    day,
    definition,
    group,
    item,
    window,
)

from medhaven.analytics.cohorts import generate_cohort, parse_expression
from medhaven.analytics.cohorts.runner import CohortRun
from medhaven.cdm import CdmStore
from medhaven.errors import InvalidInput, StoreError

COND, DRUG, OTHER = 10, 20, 30


def run(store: CdmStore, expr: dict[str, Any], cid: int = 1) -> CohortRun:
    return generate_cohort(store, parse_expression(expr), cohort_definition_id=cid)


def persons(store: CdmStore, cid: int = 1) -> set[int]:
    return {p for p, _, _ in cohort_rows(store, cid)}


def cond_primary(**kw: Any) -> dict[str, Any]:
    return {"ConditionOccurrence": {"CodesetId": 0, **kw}}


SETS = [cset(0, item(COND)), cset(1, item(DRUG))]


def test_concept_set_descendants_excluded_invalid_and_mapped(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    for c in (100, 101, 102, 200, 999):
        cdm.concept(c)
    cdm.concept(103, invalid="D")
    for child in (100, 101, 102, 103):
        cdm.ancestor(100, child)
    cdm.maps_to(200, 101)
    for pid, concept in enumerate((100, 101, 102, 103, 200, 999), start=1):
        cdm.person(pid)
        cdm.condition(pid, concept, 10)
    sets = [cset(0, item(100, desc=True), item(101, mapped=True), item(102, excl=True))]
    run(store, definition([cond_primary()], sets=sets))
    # 100 itself, 101 (descendant), 200 (maps to 101); 102 excluded, 103 invalid descendant.
    assert persons(store) == {1, 2, 5}


def test_excluded_item_removes_its_descendants(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    for c in (100, 101, 102):
        cdm.concept(c)
    for child in (100, 101, 102):
        cdm.ancestor(100, child)
    cdm.ancestor(101, 101)
    cdm.ancestor(101, 102)
    for pid, concept in enumerate((100, 101, 102), start=1):
        cdm.person(pid)
        cdm.condition(pid, concept, 10)
    sets = [cset(0, item(100, desc=True), item(101, desc=True, excl=True))]
    run(store, definition([cond_primary()], sets=sets))
    assert persons(store) == {1}


DOMAIN_ENDS = {
    "ConditionOccurrence": 11,  # no end recorded: start + 1
    "DrugExposure": 40,
    "ProcedureOccurrence": 11,
    "Measurement": 11,
    "Observation": 11,
    "VisitOccurrence": 15,
    "Death": 11,
}


def test_each_primary_domain_with_circe_end_dates(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    cdm.concept(OTHER)
    adders = {
        "ConditionOccurrence": lambda p, c: cdm.condition(p, c, 10),
        "DrugExposure": lambda p, c: cdm.drug(p, c, 10, 40),
        "ProcedureOccurrence": lambda p, c: cdm.procedure(p, c, 10),
        "Measurement": lambda p, c: cdm.measurement(p, c, 10),
        "Observation": lambda p, c: cdm.observation(p, c, 10),
        "VisitOccurrence": lambda p, c: cdm.visit(p, c, 10, 15),
        "Death": lambda p, c: cdm.death(p, 10, c),
    }
    # Person 2k+1 has the domain's event with the concept in the set, 2k+2 with another one.
    for k, add in enumerate(adders.values()):
        cdm.person(2 * k + 1)
        cdm.person(2 * k + 2)
        add(2 * k + 1, COND)
        add(2 * k + 2, OTHER)
    end = {"DateOffset": {"DateField": "EndDate", "Offset": 0}}
    for k, (domain, expected_end) in enumerate(DOMAIN_ENDS.items()):
        expr = definition([{domain: {"CodesetId": 0}}], sets=[cset(0, item(COND))], end=end)
        run(store, expr, cid=k + 1)
        assert cohort_rows(store, k + 1) == {(2 * k + 1, day(10), day(expected_end))}, domain


def test_death_without_codeset_takes_every_death(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.person(1)
    cdm.person(2)
    cdm.death(1, 50)
    run(store, definition([{"Death": {}}]))
    assert cohort_rows(store) == {(1, day(50), day(1000))}


MEASUREMENT_CASES: list[tuple[dict[str, Any], list[int], set[int]]] = [
    ({"Value": 6, "Op": "gt"}, [8840], {2}),
    ({"Value": 5, "Op": "lte"}, [], {1}),
    ({"Value": 4, "Op": "bt", "Extent": 6}, [], {1}),
    ({"Value": 4, "Op": "!bt", "Extent": 6}, [], {2, 3}),
    ({"Value": 9, "Op": "eq"}, [8753], {3}),
    ({"Value": 9, "Op": "!eq"}, [], {1}),
    ({"Value": 0, "Op": "gte"}, [8753, 8840], {1, 2, 3}),  # a missing value matches no range
]


def test_measurement_value_ranges_and_units(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    for pid, (value, unit) in enumerate([(5.0, 8840), (9.0, 8840), (9.0, 8753), (None, 8840)], 1):
        cdm.person(pid)
        cdm.measurement(pid, COND, 10, value, unit)
    for cid, (value_range, units, expected) in enumerate(MEASUREMENT_CASES, start=1):
        attrs: dict[str, Any] = {"CodesetId": 0, "ValueAsNumber": value_range}
        if units:
            attrs["Unit"] = [{"CONCEPT_ID": u} for u in units]
        run(store, definition([{"Measurement": attrs}], sets=[cset(0, item(COND))]), cid=cid)
        assert persons(store, cid) == expected, value_range


def _three_conditions(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    cdm.person(1)
    for d in (10, 100, 500):
        cdm.condition(1, COND, d)


PRIMARY_CASES: list[tuple[bool, int, int, str, set[int]]] = [
    (True, 0, 0, "All", {10}),
    (True, 50, 0, "All", set()),  # First picks day 10 before the window drops it
    (False, 50, 0, "All", {100, 500}),
    (False, 50, 0, "First", {100}),
    (False, 0, 0, "Last", {500}),
    (False, 0, 600, "All", {10, 100}),
]


def test_first_observation_window_and_primary_limit(store: CdmStore) -> None:
    _three_conditions(store)
    one_day = {"DateOffset": {"DateField": "StartDate", "Offset": 0}}  # keeps events apart
    for cid, (first, prior, post, limit, starts) in enumerate(PRIMARY_CASES, start=1):
        crit = cond_primary(First=True) if first else cond_primary()
        expr = definition([crit], sets=SETS, prior=prior, post=post, limit=limit, end=one_day)
        run(store, expr, cid=cid)
        got = {s for _, s, _ in cohort_rows(store, cid)}
        assert got == {day(d) for d in starts}, (first, prior, post, limit)


def _index_with_drugs(
    store: CdmStore, drug_days: list[int], op: tuple[int, int] = (0, 1000)
) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    cdm.concept(DRUG)
    cdm.person(1, op=op)
    cdm.condition(1, COND, 100)
    for d in drug_days:
        cdm.drug(1, DRUG, d)


def _rule(crit: dict[str, Any]) -> list[dict[str, Any]]:
    return [group(crit=[crit])]


WINDOW_CASES: list[tuple[dict[str, Any], int, int, bool]] = [
    (window(30, -1, 1, -1), 0, 2, True),  # days 70 and 95 lie in [70, 99]
    (window(30, -1, 1, -1), 0, 3, False),
    (window(30, -1, 0, 1), 2, 3, True),  # [70, 100] adds day 100
    (window(30, -1, 0, 1), 1, 2, False),
    (window(0, 1, 30, 1), 0, 2, True),  # [100, 130]: days 100, 130
    (window(1, 1, 29, 1), 1, 0, True),  # [101, 129]: none
    (window(1, 1, 30, 1), 2, 1, True),
    (window(31, -1, 31, 1), 2, 5, False),
]


def test_start_window_days_coefficients_and_occurrence(store: CdmStore) -> None:
    _index_with_drugs(store, [70, 95, 100, 130])
    for cid, (win, typ, count, included) in enumerate(WINDOW_CASES, start=1):
        crit = correlated("DrugExposure", {"CodesetId": 1}, win, typ, count)
        run(store, definition([cond_primary()], sets=SETS, rules=_rule(crit)), cid=cid)
        assert persons(store, cid) == ({1} if included else set()), (win, typ, count)


@pytest.mark.parametrize(
    ("ignore_op", "expected"),
    [(False, 1), (True, 2)],
)
def test_unbounded_window_stops_at_the_observation_period(
    store: CdmStore, ignore_op: bool, expected: int
) -> None:
    _index_with_drugs(store, [20, 60], op=(50, 1000))  # day 20 is before observation starts
    crit = correlated(
        "DrugExposure",
        {"CodesetId": 1},
        window(None, -1, 0, 1),
        0,
        expected,
        IgnoreObservationPeriod=ignore_op,
    )
    run(store, definition([cond_primary()], sets=SETS, rules=_rule(crit)))
    assert persons(store) == {1}


def test_use_index_end_use_event_end_and_end_window(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    cdm.concept(DRUG)
    for pid in (1, 2, 3):
        cdm.person(pid)
        cdm.visit(pid, COND, 100, 110)
    cdm.drug(1, DRUG, 112, 112)  # starts 2 days after the index end
    cdm.drug(2, DRUG, 90, 105)  # ends during the visit, started before it
    cdm.drug(3, DRUG, 108, 108)
    prim = [{"VisitOccurrence": {"CodesetId": 0}}]
    after_end = correlated(
        "DrugExposure", {"CodesetId": 1}, window(0, 1, 5, 1, UseIndexEnd=True), 2, 1
    )
    run(store, definition(prim, sets=SETS, rules=_rule(after_end)))
    assert persons(store) == {1}
    # Event end inside the visit (start window on the event's end date).
    ends_inside = correlated(
        "DrugExposure", {"CodesetId": 1}, window(0, 1, 10, 1, UseEventEnd=True), 2, 1
    )
    run(store, definition(prim, sets=SETS, rules=_rule(ends_inside)))
    assert persons(store) == {2, 3}
    # Started up to 20 days before, and (end window, event end by default) ended by day 106.
    both = correlated(
        "DrugExposure",
        {"CodesetId": 1},
        window(20, -1, 10, 1),
        2,
        1,
        EndWindow=window(20, -1, 6, 1),
    )
    run(store, definition(prim, sets=SETS, rules=_rule(both)))
    assert persons(store) == {2}


def _group_people(store: CdmStore) -> None:
    """Person p has the first p-1 of three drugs (A, B, C) within 30 days before the index."""
    cdm = TinyCdm(store)
    cdm.concept(COND)
    for c in (21, 22, 23):
        cdm.concept(c)
    for pid in (1, 2, 3, 4):
        cdm.person(pid)
        cdm.condition(pid, COND, 100)
        for c in (21, 22, 23)[: pid - 1]:
            cdm.drug(pid, c, 90)


GROUP_SETS = [cset(0, item(COND)), cset(1, item(21)), cset(2, item(22)), cset(3, item(23))]


GROUP_CASES: list[tuple[str, int | None, set[int]]] = [
    ("ALL", None, {4}),
    ("ANY", None, {2, 3, 4}),
    ("AT_LEAST", 2, {3, 4}),
    ("AT_MOST", 1, {1, 2}),
    ("AT_MOST", 0, {1}),
    ("AT_LEAST", 0, {1, 2, 3, 4}),
]


def test_group_types(store: CdmStore) -> None:
    _group_people(store)
    crits = [
        correlated("DrugExposure", {"CodesetId": s}, window(30, -1, 0, 1), 2, 1) for s in (1, 2, 3)
    ]
    for cid, (typ, count, expected) in enumerate(GROUP_CASES, start=1):
        rules = [group(typ, crit=crits, count=count)]
        run(store, definition([cond_primary()], sets=GROUP_SETS, rules=rules), cid=cid)
        assert persons(store, cid) == expected, (typ, count)


def test_nested_group_and_empty_group(store: CdmStore) -> None:
    _group_people(store)
    a, _, c = (
        correlated("DrugExposure", {"CodesetId": s}, window(30, -1, 0, 1), 2, 1) for s in (1, 2, 3)
    )
    # A and (C or not B): person 2 (A only) and 4 (A, B, C).
    inner = group(
        "ANY", crit=[c, correlated("DrugExposure", {"CodesetId": 2}, window(30, -1, 0, 1), 0, 0)]
    )
    rules = [group("ALL", crit=[a], groups=[inner]), group()]
    run(store, definition([cond_primary()], sets=GROUP_SETS, rules=rules))
    assert persons(store) == {2, 4}


def test_demographic_age_and_gender(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    people = {1: (1950, 8507), 2: (1950, 8532), 3: (1990, 8532), 4: (1960, 8532)}
    for pid, (yob, gender) in people.items():
        cdm.person(pid, yob=yob, gender=gender)
        cdm.condition(pid, COND, 10)  # index year 2020
    demo = [{"Age": {"Value": 60, "Op": "gte"}, "Gender": [{"CONCEPT_ID": 8532}]}]
    run(store, definition([cond_primary()], sets=SETS, rules=[group(demo=demo)]))
    assert persons(store) == {2, 4}  # 2020 - 1960 = 60 counts


def test_additional_criteria_and_limits(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    cdm.concept(DRUG)
    cdm.person(1)
    for d in (10, 200, 400):
        cdm.condition(1, COND, d)
    for d in (190, 390):
        cdm.drug(1, DRUG, d)
    drug_before = correlated("DrugExposure", {"CodesetId": 1}, window(30, -1, 0, 1), 2, 1)

    def starts(**kw: Any) -> set[int]:
        run(store, definition([cond_primary()], sets=SETS, **kw))
        return {(s - day(0)).days for _, s, _ in cohort_rows(store)}

    assert starts(rules=_rule(drug_before), qlimit="First") == set()
    assert starts(rules=_rule(drug_before), elimit="First") == {200}
    assert starts(rules=_rule(drug_before), elimit="Last") == {400}
    assert starts(additional=group(crit=[drug_before]), qlimit="First") == {200}
    assert starts(additional=group(crit=[drug_before]), qlimit="Last") == {400}


END_CASES: list[tuple[dict[str, Any] | None, int]] = [
    (None, 1000),  # default: end of the observation period
    ({"DateOffset": {"DateField": "StartDate", "Offset": 30}}, 130),
    ({"DateOffset": {"DateField": "EndDate", "Offset": 5}}, 125),
    ({"DateOffset": {"DateField": "StartDate", "Offset": 5000}}, 1000),  # capped
]


def test_end_strategies(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    cdm.person(1)
    cdm.condition(1, COND, 100, 120)
    for cid, (end, expected_end) in enumerate(END_CASES, start=1):
        run(store, definition([cond_primary()], sets=SETS, end=end), cid=cid)
        assert cohort_rows(store, cid) == {(1, day(100), day(expected_end))}, end


def test_censoring_criteria_end_the_period_early(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    cdm.concept(DRUG)
    for pid in (1, 2, 3):
        cdm.person(pid)
        cdm.condition(pid, COND, 100)
    cdm.drug(1, DRUG, 150)
    cdm.drug(1, DRUG, 180)
    cdm.drug(2, DRUG, 50)  # before the index: no effect
    cdm.death(3, 100)  # same day as the index
    end = {"DateOffset": {"DateField": "StartDate", "Offset": 365}}
    censor = [{"DrugExposure": {"CodesetId": 1}}, {"Death": {}}]
    run(store, definition([cond_primary()], sets=SETS, end=end, censor=censor))
    assert cohort_rows(store) == {
        (1, day(100), day(150)),
        (2, day(100), day(465)),
        (3, day(100), day(100)),
    }


ERA_CASES: list[tuple[int, set[tuple[int, int]]]] = [
    (0, {(10, 20), (25, 40), (100, 110)}),  # 10-20 and 15-18 overlap; 25 is a new era
    (5, {(10, 40), (100, 110)}),
    (60, {(10, 110)}),
]


def test_era_collapse_with_era_pad(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    cdm.person(1)
    for start, stop in ((10, 20), (15, 18), (25, 40), (100, 110)):
        cdm.condition(1, COND, start, stop)
    end = {"DateOffset": {"DateField": "EndDate", "Offset": 0}}
    for cid, (pad, expected) in enumerate(ERA_CASES, start=1):
        run(store, definition([cond_primary()], sets=SETS, end=end, pad=pad), cid=cid)
        assert cohort_rows(store, cid) == {(1, day(s), day(e)) for s, e in expected}, pad


def test_attrition_counts_per_rule_in_order(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(COND)
    cdm.concept(DRUG)
    for pid in range(1, 7):
        cdm.person(pid, yob=1940 if pid <= 4 else 1990)
        cdm.condition(pid, COND, 100)
        cdm.condition(pid, COND, 300)
    for pid in (1, 2, 3, 5):
        cdm.drug(pid, DRUG, 95)  # only the day-100 events have a drug within 30 days before
    rules = _rule(correlated("DrugExposure", {"CodesetId": 1}, window(30, -1, 0, 1), 2, 1))
    rules.append(group(demo=[{"Age": {"Value": 65, "Op": "gte"}}]))
    result = run(store, definition([cond_primary()], sets=SETS, rules=rules, elimit="First"))
    got = [(s.name, s.persons, s.events) for s in result.stages]
    assert got == [
        ("initial events", 6, 12),
        ("qualifying events", 6, 12),
        ("rule 0", 4, 4),
        ("rule 1", 3, 3),
        ("expression limit", 3, 3),
        ("cohort periods", 3, 3),
    ]


def test_rerun_replaces_rows_and_failed_run_keeps_previous(store: CdmStore) -> None:
    _three_conditions(store)
    run(store, definition([cond_primary()], sets=SETS), cid=1)
    run(store, definition([cond_primary()], sets=SETS, limit="First"), cid=2)
    run(store, definition([cond_primary()], sets=SETS, limit="Last"), cid=1)
    assert cohort_rows(store, 1) == {(1, day(500), day(1000))}
    assert cohort_rows(store, 2) == {(1, day(10), day(1000))}
    store.execute("DROP TABLE drug_exposure")
    with pytest.raises(StoreError):
        run(store, definition([{"DrugExposure": {"CodesetId": 1}}], sets=SETS), cid=1)
    assert cohort_rows(store, 1) == {(1, day(500), day(1000))}


def test_results_schema_is_created(store: CdmStore) -> None:
    _three_conditions(store)
    schema = f"r_{uuid.uuid4().hex[:10]}"
    try:
        generate_cohort(
            store,
            parse_expression(definition([cond_primary()], sets=SETS, limit="First")),
            cohort_definition_id=7,
            results_schema=schema,
        )
        rows = store.fetchall(f"SELECT subject_id, cohort_start_date FROM {schema}.cohort")
        assert rows == [(1, day(10))]
    finally:
        store.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.mark.parametrize(
    ("patch", "named"),
    [
        ({"PrimaryCriteria": {"CriteriaList": [{"ConditionOccurrence": {"CodesetId": 0, "ConditionType": [{"CONCEPT_ID": 1}]}}]}},
         "PrimaryCriteria.CriteriaList[0].ConditionOccurrence.ConditionType"),
        ({"PrimaryCriteria": {"CriteriaList": [{"DrugEra": {"CodesetId": 0}}]}},
         "PrimaryCriteria.CriteriaList[0].DrugEra"),
        ({"EndStrategy": {"CustomEra": {"DrugCodesetId": 0}}}, "EndStrategy.CustomEra"),
        ({"CensorWindow": {"StartDate": "2020-01-01"}}, "CensorWindow.StartDate"),
        ({"InclusionRules": [{"name": "x", "expression": group(crit=[correlated(
            "DrugExposure", {"CodesetId": 1}, window(1, -1, 0, 1), 2, 1, RestrictVisit=True)])}]},
         "InclusionRules[0].expression.CriteriaList[0].RestrictVisit"),
        ({"InclusionRules": [{"name": "x", "expression": group(crit=[{
            "Criteria": {"DrugExposure": {"CodesetId": 1}}, "StartWindow": window(1, -1, 0, 1),
            "Occurrence": {"Type": 2, "Count": 1, "IsDistinct": True}}])}]},
         "InclusionRules[0].expression.CriteriaList[0].Occurrence.IsDistinct"),
        ({"DemographicCriteria": {"Age": {"Value": 1, "Op": "gt"}}}, "DemographicCriteria"),
        ({"CollapseSettings": {"CollapseType": "ERA", "EraPad": 0, "Something": 1}},
         "CollapseSettings.Something"),
    ],
)  # fmt: skip
def test_elements_outside_the_subset_are_refused_by_name(patch: dict[str, Any], named: str) -> None:
    expr = definition([cond_primary()], sets=SETS) | patch
    with pytest.raises(InvalidInput) as err:
        parse_expression(expr)
    assert named in err.value.message
    assert "not supported" in err.value.message


def test_unknown_codeset_is_refused(store: CdmStore) -> None:
    _three_conditions(store)
    with pytest.raises(InvalidInput, match=r"CriteriaList\[0\]\.ConditionOccurrence\.CodesetId 9"):
        run(store, definition([{"ConditionOccurrence": {"CodesetId": 9}}], sets=SETS))


def test_unset_fields_as_atlas_writes_them_are_accepted() -> None:
    expr = definition(
        [{"ConditionOccurrence": {"CodesetId": 0, "ConditionTypeExclude": False, "Age": None}}],
        sets=SETS,
    )
    expr["CensorWindow"] = {}
    expr["cdmVersionRange"] = ">=5.0.0"
    parsed = parse_expression(expr)
    assert parsed.PrimaryCriteria.CriteriaList[0].domain == "ConditionOccurrence"


def test_first_inside_a_correlated_criterion_counts_only_the_first_ever_event(
    store: CdmStore,
) -> None:
    _index_with_drugs(store, [10, 95])  # index day 100; the person's first drug is day 10
    win = window(30, -1, 0, 1)
    first = correlated("DrugExposure", {"CodesetId": 1, "First": True}, win, 2, 1)
    anyone = correlated("DrugExposure", {"CodesetId": 1}, win, 2, 1)
    run(store, definition([cond_primary()], sets=SETS, rules=_rule(first)), cid=1)
    run(store, definition([cond_primary()], sets=SETS, rules=_rule(anyone)), cid=2)
    assert persons(store, 1) == set()
    assert persons(store, 2) == {1}
