"""Each quality check counts exactly the violations planted in a small CDM, on both stores.

Expected figures are computed here in plain Python from the rows the test
wrote, never taken from the checks' own output.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import pyarrow as pa
import pytest
from test_checks_builders import (
    CHECKED_TABLES,
    CONCEPTS,
    D,
    arrow_table,
    build,
    clean_cdm,
    column_sql,
)

from medhaven.cdm import CdmStore
from medhaven.cdm.checks import (
    MEASUREMENT_RANGES,
    PERSON_COMPLETENESS_THRESHOLDS,
    THRESHOLDS,
    CheckReport,
    run_checks,
)
from medhaven.errors import SchemaError

# measurePersonCompleteness takes its threshold per table from DQD's defaults.
ALL_CHECKS = set(THRESHOLDS) | {"measurePersonCompleteness"}


def _check(store: CdmStore, data: dict[str, list[dict[str, Any]]]) -> CheckReport:
    build(store, data)
    return run_checks(store, tables=CHECKED_TABLES)


def _assert_counts(report: CheckReport, check: str, table: str, field: str | None, *,
                   violated: int, denominator: int, **kw: Any) -> None:  # fmt: skip
    r = report.find(check, table=table, field=field, **kw)
    assert (r.violated, r.denominator) == (violated, denominator)
    expected_pct = 100.0 * violated / denominator if denominator else 0.0
    assert r.percent == pytest.approx(expected_pct)
    assert r.status == ("fail" if expected_pct > r.threshold else "pass")


def test_clean_cdm_passes_every_check_family(store: CdmStore) -> None:
    report = _check(store, clean_cdm())
    assert report.ok, [(r.check, r.target) for r in report.problems()]
    assert set(report.summary()["by_check"]) == ALL_CHECKS
    assert report.summary()["passed"] == len(report.results)


def test_missing_table_fails_cdm_table_only(store: CdmStore) -> None:
    data = clean_cdm()
    del data["death"]
    report = _check(store, data)
    _assert_counts(report, "cdmTable", "death", None, violated=1, denominator=1)
    assert [r.check for r in report.results if r.table == "death"] == ["cdmTable"]
    assert report.errors == 0


def test_dropped_column_fails_cdm_field_and_is_not_an_error(store: CdmStore) -> None:
    data = clean_cdm()
    store.execute(
        store_sql_without(store, "measurement", ["measurement_time", "unit_source_value"])
    )
    build(store, {"measurement": data.pop("measurement")}, create=False)
    build(store, data)
    report = run_checks(store, tables=CHECKED_TABLES)
    failed = {(r.check, r.field) for r in report.problems()}
    assert failed == {("cdmField", "measurement_time"), ("cdmField", "unit_source_value")}


def store_sql_without(store: CdmStore, table: str, dropped: list[str]) -> str:
    return column_sql(store, table, dict.fromkeys(dropped, ""))


def test_person_completeness_counts_persons_without_rows(store: CdmStore) -> None:
    data = clean_cdm()
    data["condition_occurrence"] = [
        r for r in data["condition_occurrence"] if r["person_id"] not in (2, 3)
    ]
    report = _check(store, data)
    persons = {p["person_id"] for p in data["person"]}
    missing = persons - {r["person_id"] for r in data["condition_occurrence"]}
    _assert_counts(report, "measurePersonCompleteness", "condition_occurrence", None,
                   violated=len(missing), denominator=len(persons))  # fmt: skip
    assert report.find("measurePersonCompleteness", table="visit_occurrence").status == "pass"


def test_person_completeness_thresholds_are_dqd_defaults() -> None:
    # OHDSI DataQualityDashboard v2, inst/csv/OMOP_CDMv5.4_Table_Level.csv,
    # measurePersonCompletenessThreshold (percent), typed here from that file.
    dqd = {"observation_period": 0.0, "visit_occurrence": 95.0, "condition_occurrence": 95.0,
           "drug_exposure": 95.0, "procedure_occurrence": 95.0, "measurement": 95.0,
           "observation": 95.0, "condition_era": 95.0, "drug_era": 95.0, "death": 100.0,
           "device_exposure": 100.0, "note": 100.0, "specimen": 100.0}  # fmt: skip
    for table, threshold in dqd.items():
        assert PERSON_COMPLETENESS_THRESHOLDS[table] == threshold, table
    # DQD does not measure person completeness on these tables.
    assert not {"person", "provider", "concept", "cost"} & set(PERSON_COMPLETENESS_THRESHOLDS)


def test_person_completeness_applies_the_dqd_threshold_per_table(store: CdmStore) -> None:
    data = clean_cdm()
    # 36 more persons, each with an observation period but no other row: 36 of 40 persons
    # (90 %) have no condition, and one of them (2.5 %) also lacks an observation period.
    extra = [dict(data["person"][1], person_id=pid) for pid in range(5, 41)]
    data["person"] += extra
    data["observation_period"] += [
        dict(data["observation_period"][0], observation_period_id=p["person_id"],
             person_id=p["person_id"])
        for p in extra[1:]
    ]  # fmt: skip
    report = _check(store, data)
    _assert_counts(report, "measurePersonCompleteness", "condition_occurrence", None,
                   violated=36, denominator=40)  # fmt: skip
    assert report.find("measurePersonCompleteness", table="condition_occurrence").status == "pass"
    _assert_counts(report, "measurePersonCompleteness", "observation_period", None,
                   violated=1, denominator=40)  # fmt: skip
    assert report.find("measurePersonCompleteness", table="observation_period").status == "fail"

    # 39 of 40 persons without a condition (97.5 %) is above DQD's 95 %.
    store.execute("DELETE FROM condition_occurrence WHERE person_id <> 1")
    report = run_checks(store, tables=CHECKED_TABLES)
    r = report.find("measurePersonCompleteness", table="condition_occurrence")
    assert (r.violated, r.denominator, r.threshold, r.status) == (39, 40, 95.0, "fail")


def test_is_required_counts_nulls_per_field(store: CdmStore) -> None:
    data = clean_cdm()
    visits = data.pop("visit_occurrence")
    visits[0]["visit_type_concept_id"] = None
    visits[2]["visit_type_concept_id"] = None
    visits[3]["visit_end_date"] = None
    store.execute(column_sql(store, "visit_occurrence", {}))  # no NOT NULL constraints
    build(store, {"visit_occurrence": visits}, create=False)
    report = _check(store, data)
    for field in ("visit_type_concept_id", "visit_end_date", "visit_start_date"):
        nulls = sum(1 for v in visits if v.get(field) is None)
        _assert_counts(report, "isRequired", "visit_occurrence", field,
                       violated=nulls, denominator=len(visits))  # fmt: skip
    assert (
        report.find("isRequired", table="visit_occurrence", field="visit_type_concept_id").status
        == "fail"
    )


def test_cdm_datatype_counts_non_integer_text(store: CdmStore) -> None:
    data = clean_cdm()
    texts = ["12", "3.5", "abc", None, "-4", "1e3"]
    rows = data.pop("measurement")
    store.execute(column_sql(store, "measurement", {"measurement_event_id": "VARCHAR(20)"}))
    table = arrow_table("measurement", rows).append_column(
        "measurement_event_id", pa.array(texts, type=pa.string())
    )
    store.append_arrow("measurement", table)
    report = _check(store, data)
    non_null = [t for t in texts if t is not None]
    bad = sum(1 for t in non_null if not re.fullmatch(r"-?[0-9]+", t))
    _assert_counts(report, "cdmDatatype", "measurement", "measurement_event_id",
                   violated=bad, denominator=len(non_null))  # fmt: skip
    # A real BIGINT column holds integers by construction.
    _assert_counts(report, "cdmDatatype", "measurement", "measurement_id",
                   violated=0, denominator=len(rows))  # fmt: skip


def test_is_primary_key_counts_every_row_of_a_duplicated_id(store: CdmStore) -> None:
    data = clean_cdm()
    visits = data["visit_occurrence"]
    visits += [dict(visits[0]), dict(visits[0]), dict(visits[1])]
    report = _check(store, data)
    counts = Counter(v["visit_occurrence_id"] for v in visits)
    dup_rows = sum(n for n in counts.values() if n > 1)
    _assert_counts(report, "isPrimaryKey", "visit_occurrence", "visit_occurrence_id",
                   violated=dup_rows, denominator=len(visits))  # fmt: skip


def test_is_foreign_key_counts_orphans_for_cdm_and_concept_keys(store: CdmStore) -> None:
    data = clean_cdm()
    cond = data["condition_occurrence"]
    cond[0]["person_id"] = 99
    cond[1]["visit_occurrence_id"] = 555
    cond[2]["visit_occurrence_id"] = 556
    cond[3]["condition_concept_id"] = 999999
    report = _check(store, data)
    persons = {p["person_id"] for p in data["person"]}
    visits = {v["visit_occurrence_id"] for v in data["visit_occurrence"]}
    concepts = {c["concept_id"] for c in CONCEPTS}
    for field, targets in [("person_id", persons), ("visit_occurrence_id", visits),
                           ("condition_concept_id", concepts)]:  # fmt: skip
        orphans = sum(1 for r in cond if r.get(field) is not None and r[field] not in targets)
        _assert_counts(report, "isForeignKey", "condition_occurrence", field,
                       violated=orphans, denominator=len(cond))  # fmt: skip
    # The unknown concept is not counted by fkDomain / isStandardValidConcept (no concept to judge).
    assert (
        report.find("fkDomain", table="condition_occurrence", field="condition_concept_id").violated
        == 0
    )


def test_fk_domain_counts_concepts_from_the_wrong_domain(store: CdmStore) -> None:
    data = clean_cdm()
    data["person"][1]["gender_concept_id"] = 8527  # a Race concept
    data["person"][2]["race_concept_id"] = 0  # "no matching concept" (domain Metadata): exempt
    data["condition_occurrence"][0]["condition_concept_id"] = 3004249  # a Measurement concept
    data["condition_occurrence"][1]["condition_concept_id"] = 3025315
    report = _check(store, data)
    domain = {c["concept_id"]: c["domain_id"] for c in CONCEPTS}
    for table, field, wanted in [("person", "gender_concept_id", "Gender"),
                                 ("person", "race_concept_id", "Race"),
                                 ("condition_occurrence", "condition_concept_id", "Condition")]:  # fmt: skip
        rows = data[table]
        wrong = sum(1 for r in rows if r[field] != 0 and domain[r[field]] != wanted)
        _assert_counts(report, "fkDomain", table, field, violated=wrong, denominator=len(rows))
    assert report.find("fkDomain", table="person", field="gender_concept_id").status == "fail"


def test_standard_valid_concept_excludes_zero_and_source_fields(store: CdmStore) -> None:
    data = clean_cdm()
    cond = data["condition_occurrence"]
    cond[0]["condition_concept_id"] = 44054006  # not standard
    cond[1]["condition_concept_id"] = 40316773  # standard but invalidated
    cond[2]["condition_concept_id"] = 0  # "no matching concept": exempt
    report = _check(store, data)
    info = {c["concept_id"]: c for c in CONCEPTS}
    bad = sum(
        1
        for r in cond
        if r["condition_concept_id"] != 0
        and (info[r["condition_concept_id"]]["standard_concept"] != "S"
             or info[r["condition_concept_id"]].get("invalid_reason") is not None)
    )  # fmt: skip
    _assert_counts(report, "isStandardValidConcept", "condition_occurrence", "condition_concept_id",
                   violated=bad, denominator=len(cond))  # fmt: skip
    # Source concept fields (non-standard by design) are not judged.
    with pytest.raises(KeyError):
        report.find("isStandardValidConcept", table="condition_occurrence",
                    field="condition_source_concept_id")  # fmt: skip


def test_plausible_values_count_rows_outside_the_range_in_the_same_unit(store: CdmStore) -> None:
    data = clean_cdm()
    meas = data["measurement"]
    extra = [(3004249, 30.0, 8876), (3004249, 350.0, 8876), (3025315, 0.1, 9529),
             (3004249, 5000.0, 9529), (3004249, None, 8876)]  # fmt: skip
    for i, (cid, value, unit) in enumerate(extra):
        meas.append({"measurement_id": 2000 + i, "person_id": 2, "measurement_concept_id": cid,
                     "measurement_date": D(2016, 6, 1), "measurement_type_concept_id": 32817,
                     "value_as_number": value, "unit_concept_id": unit})  # fmt: skip
    report = _check(store, data)
    for rng in MEASUREMENT_RANGES:
        values = [m["value_as_number"] for m in meas
                  if (m["measurement_concept_id"], m["unit_concept_id"]) == (rng.concept_id, rng.unit_concept_id)
                  and m["value_as_number"] is not None]  # fmt: skip
        low = sum(1 for v in values if v < rng.low)
        high = sum(1 for v in values if v > rng.high)
        _assert_counts(report, "plausibleValueLow", "measurement", "value_as_number",
                       concept_id=rng.concept_id, violated=low, denominator=len(values))  # fmt: skip
        _assert_counts(report, "plausibleValueHigh", "measurement", "value_as_number",
                       concept_id=rng.concept_id, violated=high, denominator=len(values))  # fmt: skip
    sbp = report.find(
        "plausibleValueHigh", table="measurement", field="value_as_number", concept_id=3004249
    )
    assert (sbp.violated, sbp.status) == (1, "fail")


def test_plausible_during_life_allows_sixty_days_after_death(store: CdmStore) -> None:
    data = clean_cdm()
    death = data["death"][0]["death_date"]
    for i, days in enumerate([59, 60, 61, 400]):
        data["measurement"].append(
            {"measurement_id": 3000 + i, "person_id": 1, "measurement_concept_id": 3025315,
             "measurement_date": death + dt.timedelta(days=days), "measurement_type_concept_id": 32817}
        )  # fmt: skip
    report = _check(store, data)
    dead = {d["person_id"]: d["death_date"] for d in data["death"]}
    rows = [m for m in data["measurement"] if m["person_id"] in dead]
    late = sum(1 for m in rows if (m["measurement_date"] - dead[m["person_id"]]).days > 60)
    _assert_counts(report, "plausibleDuringLife", "measurement", "measurement_date",
                   violated=late, denominator=len(rows))  # fmt: skip
    assert late == 2


def _birth(p: dict[str, Any]) -> dt.date:
    return dt.date(p["year_of_birth"], p.get("month_of_birth") or 1, p.get("day_of_birth") or 1)


def test_plausible_after_birth_uses_year_month_day_with_defaults(store: CdmStore) -> None:
    data = clean_cdm()
    cond = data["condition_occurrence"]
    # Person 3 born 1985-07-01; person 2 born in 1960 (month and day unknown: 1 January).
    cond[2]["condition_start_date"] = D(1985, 6, 30)
    cond[1]["condition_start_date"] = D(1960, 1, 1)
    cond.append(dict(cond[1], condition_occurrence_id=900, condition_start_date=D(1959, 12, 31)))
    report = _check(store, data)
    births = {p["person_id"]: _birth(p) for p in data["person"]}
    early = sum(1 for r in cond if r["condition_start_date"] < births[r["person_id"]])
    _assert_counts(report, "plausibleAfterBirth", "condition_occurrence", "condition_start_date",
                   violated=early, denominator=len(cond))  # fmt: skip
    assert early == 2


def test_plausible_start_before_end_ignores_equal_and_missing_ends(store: CdmStore) -> None:
    data = clean_cdm()
    visits = data["visit_occurrence"]
    visits[0]["visit_end_date"] = visits[0]["visit_start_date"] - dt.timedelta(days=3)
    visits[1]["visit_end_date"] = visits[1]["visit_start_date"]
    visits[2]["visit_end_date"] = visits[2]["visit_start_date"] - dt.timedelta(days=1)
    report = _check(store, data)
    backwards = sum(1 for v in visits if v["visit_start_date"] > v["visit_end_date"])
    _assert_counts(report, "plausibleStartBeforeEnd", "visit_occurrence", "visit_start_date",
                   violated=backwards, denominator=len(visits))  # fmt: skip
    # condition_end_date is always missing here: no eligible rows, so it passes with 0.
    _assert_counts(report, "plausibleStartBeforeEnd", "condition_occurrence", "condition_start_date",
                   violated=0, denominator=0)  # fmt: skip


def test_empty_tables_pass_with_denominator_zero(store: CdmStore) -> None:
    data = clean_cdm()
    data["measurement"] = []
    report = _check(store, data)
    rows = [r for r in report.results if r.table == "measurement" and r.check not in
            ("cdmTable", "cdmField")]  # fmt: skip
    # Not populated at all: person completeness passes too (no persons judged).
    assert "measurePersonCompleteness" in {r.check for r in rows}
    assert rows and all((r.status, r.violated, r.denominator) == ("pass", 0, 0) for r in rows)


def test_report_summary_and_json_agree(store: CdmStore) -> None:
    data = clean_cdm()
    data["person"][0]["gender_concept_id"] = 8527
    report = _check(store, data)
    doc = report.to_dict()
    statuses = Counter(r["status"] for r in doc["results"])
    assert doc["summary"]["passed"] == statuses["pass"]
    assert doc["summary"]["failed"] == statuses["fail"] == 1
    assert doc["summary"]["by_check"]["fkDomain"]["fail"] == 1
    assert doc["summary"]["ok"] is False and report.ok is False


def test_unknown_table_is_a_schema_error(store: CdmStore) -> None:
    with pytest.raises(SchemaError, match="patients"):
        run_checks(store, tables=["patients"])
