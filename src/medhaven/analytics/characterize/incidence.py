"""Incidence proportion and rate of an outcome cohort within a target cohort.

Semantics follow OHDSI CohortIncidence for one target, one outcome and one
time at risk (TAR):

* each subject's first entry into the target cohort is used; the TAR starts
  at its ``cohort_start_date`` and ends at its ``cohort_end_date`` or, with
  ``tar_days``, at start + ``tar_days``; both ends are capped at the end of the
  observation period that contains the start (entries outside any
  observation period are dropped, as are TARs that end before they start);
* subjects with an outcome cohort entry starting before the TAR start are
  excluded (CohortIncidence's prior-outcome exclusion);
* a case is a subject whose first outcome starts within the TAR (both ends
  included); a case's time at risk stops at the outcome date;
* person-days are ``end - start + 1``; person-years are person-days / 365.25;
  the rate is outcomes per 1,000 person-years, the proportion outcomes per
  100 persons;
* strata: age at TAR start (calendar year minus year of birth) in age
  groups, sex, and the calendar year of the TAR start.

Released figures: persons and outcomes per stratum are count tables with the
overall figure as their total (minimum cell count and complementary
suppression); person-years per stratum are sums with one contribution per
person (dominance rules, then complementary suppression). A proportion or a
rate is shown only when both its numerator and its denominator are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from medhaven.analytics.characterize.cohort import check_cohort
from medhaven.analytics.characterize.queries import fetch, require_tables
from medhaven.analytics.characterize.strata import (
    AGE_LABELS,
    SEX_LABELS,
    UNKNOWN,
    age_group_of,
    sex_of,
    year_sql,
)
from medhaven.analytics.dominance import suppress_sums
from medhaven.analytics.policy import DEFAULT_POLICY, DisclosurePolicy
from medhaven.analytics.released import ReleasedTable
from medhaven.analytics.suppression import release, suppress_counts
from medhaven.analytics.table import LinkedTable, one_way
from medhaven.cdm.store import CdmStore
from medhaven.errors import InvalidInput

DAYS_PER_YEAR = 365.25
STRATA = ("age_group", "sex", "calendar_year")


@dataclass(frozen=True)
class AtRisk:
    """One subject's time at risk: strata, whether a case, and person-days."""

    person_id: int
    age: int | None
    gender_concept_id: int | None
    start_year: int
    outcome: bool
    days: int

    def stratum(self, name: str) -> str:
        """The label of this subject in stratification ``name``."""
        if name == "age_group":
            return age_group_of(self.age)
        if name == "sex":
            return sex_of(self.gender_concept_id)
        return str(self.start_year)


def _tar_sql(tar_days: int | None) -> str:
    end = "t.cohort_end_date" if tar_days is None else f"t.cohort_start_date + {int(tar_days)}"
    return (
        "WITH t AS (SELECT subject_id, cohort_start_date, cohort_end_date, ROW_NUMBER() OVER ("
        "PARTITION BY subject_id ORDER BY cohort_start_date, cohort_end_date) AS rn "
        "FROM cohort WHERE cohort_definition_id = ?), "
        "tar AS (SELECT t.subject_id, t.cohort_start_date AS tar_start, "
        f"CASE WHEN {end} < op.observation_period_end_date THEN {end} "
        "ELSE op.observation_period_end_date END AS tar_end "
        "FROM t JOIN observation_period op ON op.person_id = t.subject_id "
        "AND t.cohort_start_date >= op.observation_period_start_date "
        "AND t.cohort_start_date <= op.observation_period_end_date WHERE t.rn = 1), "
        "prior AS (SELECT DISTINCT o.subject_id FROM cohort o JOIN tar ON tar.subject_id = o.subject_id "
        "WHERE o.cohort_definition_id = ? AND o.cohort_start_date < tar.tar_start), "
        "first_o AS (SELECT o.subject_id, MIN(o.cohort_start_date) AS o_date FROM cohort o "
        "JOIN tar ON tar.subject_id = o.subject_id WHERE o.cohort_definition_id = ? "
        "AND o.cohort_start_date >= tar.tar_start AND o.cohort_start_date <= tar.tar_end "
        "GROUP BY o.subject_id) "
        f"SELECT tar.subject_id, {year_sql('tar.tar_start')} - p.year_of_birth, "
        f"p.gender_concept_id, {year_sql('tar.tar_start')}, "
        "CASE WHEN f.o_date IS NULL THEN 0 ELSE 1 END, "
        "COALESCE(f.o_date, tar.tar_end) - tar.tar_start + 1 "
        "FROM tar JOIN person p ON p.person_id = tar.subject_id "
        "LEFT JOIN first_o f ON f.subject_id = tar.subject_id "
        "LEFT JOIN prior ON prior.subject_id = tar.subject_id "
        "WHERE tar.tar_start <= tar.tar_end AND prior.subject_id IS NULL"
    )


def at_risk(
    store: CdmStore, *, target_id: int, outcome_id: int, tar_days: int | None = None
) -> list[AtRisk]:
    """Every subject at risk with their time at risk (stays at the node)."""
    if tar_days is not None and (isinstance(tar_days, bool) or tar_days < 0):
        raise InvalidInput("--tar-days: must be a whole number of days, 0 or more")
    check_cohort(store, target_id, option="--target-id")
    check_cohort(store, outcome_id, option="--outcome-id")
    require_tables(store, ("person", "observation_period"))
    rows = fetch(store, _tar_sql(tar_days), [target_id, outcome_id, outcome_id])
    return [
        AtRisk(
            person_id=int(pid),
            age=int(age) if age is not None else None,
            gender_concept_id=int(g) if g is not None else None,
            start_year=int(y),
            outcome=bool(o),
            days=int(d),
        )
        for pid, age, g, y, o, d in rows
    ]


@dataclass(frozen=True)
class Stratified:
    """One stratification: a label per stratum with its subjects' figures (true values)."""

    name: str
    labels: tuple[str, ...]
    persons: tuple[int, ...]
    outcomes: tuple[int, ...]
    person_days: tuple[tuple[int, ...], ...]  # one entry per subject, per stratum


def stratify(rows: Sequence[AtRisk], name: str) -> Stratified:
    """Group subjects by stratification ``name`` (``overall`` gives a single stratum)."""
    groups: dict[str, list[AtRisk]] = defaultdict(list)
    for r in rows:
        groups["all" if name == "overall" else r.stratum(name)].append(r)
    if name == "overall":
        order = ["all"]
    elif name == "age_group":
        order = [*AGE_LABELS, *([UNKNOWN] if UNKNOWN in groups else [])]
    elif name == "sex":
        order = [*SEX_LABELS, *(k for k in sorted(groups) if k not in SEX_LABELS)]
    else:
        order = sorted(groups, key=int)
    return Stratified(
        name=name,
        labels=tuple(order),
        persons=tuple(len(groups[k]) for k in order),
        outcomes=tuple(sum(r.outcome for r in groups[k]) for k in order),
        person_days=tuple(tuple(r.days for r in groups[k]) for k in order),
    )


def _release_counts(
    counts: Sequence[int], labels: Sequence[str], policy: DisclosurePolicy, *, raw: bool, name: str
) -> ReleasedTable:
    table = one_way(dict(zip(labels, counts, strict=True)), name=name)
    if raw:
        return release(table, set(), set(), policy=policy, round_values=False)
    return suppress_counts(table, policy)


def _release_years(
    strat: Stratified, policy: DisclosurePolicy, *, raw: bool, name: str
) -> ReleasedTable:
    contributions = [[d / DAYS_PER_YEAR for d in days] for days in strat.person_days]
    structure = one_way([0] * len(strat.labels), name=name).structure
    structure = type(structure)(
        structure.kind, tuple(strat.labels), structure.margins, structure.shape
    )
    if raw:
        cells = [sum(c) for c in contributions]
        return release(
            LinkedTable.from_cells(structure, cells),
            set(),
            set(),
            policy=policy,
            round_values=False,
            magnitude=True,
        )
    return suppress_sums(structure, contributions, policy, name=name)


def release_stratified(
    strat: Stratified, policy: DisclosurePolicy, *, raw: bool = False
) -> dict[str, Any]:
    """One stratification as released: rows (total last) plus the three underlying tables."""
    persons = _release_counts(strat.persons, strat.labels, policy, raw=raw, name="persons")
    outcomes = _release_counts(strat.outcomes, strat.labels, policy, raw=raw, name="outcomes")
    years = _release_years(strat, policy, raw=raw, name="person-years")
    rows: list[dict[str, Any]] = []
    n_cells = len(strat.labels)
    for e in range(n_cells + 1):
        p = persons.entries[e].value
        o = outcomes.entries[e].value
        y = years.entries[e].value
        label = strat.labels[e] if e < n_cells else "total"
        if strat.name == "overall" and e == n_cells:
            continue  # the overall stratum is its own total
        rows.append(
            {
                "label": label,
                "total": e == n_cells,
                "persons": _int(p),
                "outcomes": _int(o),
                "person_years": round(y, 2) if y is not None else None,
                "proportion_pct": round(100.0 * o / p, 3) if o is not None and p else None,
                "rate_per_1000py": round(1000.0 * o / y, 3) if o is not None and y else None,
            }
        )
    return {
        "name": strat.name,
        "rows": rows,
        "tables": {
            "persons": persons.to_json(),
            "outcomes": outcomes.to_json(),
            "person_years": years.to_json(),
        },
    }


def _int(v: float | None) -> int | None:
    return None if v is None else int(v)


def incidence(
    store: CdmStore,
    *,
    target_id: int,
    outcome_id: int,
    tar_days: int | None = None,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    raw: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Incidence overall and by age group, sex and calendar year, released under ``policy``."""
    rows = at_risk(store, target_id=target_id, outcome_id=outcome_id, tar_days=tar_days)
    out: list[dict[str, Any]] = []
    for name in ("overall", *STRATA):
        out.append(release_stratified(stratify(rows, name), policy, raw=raw))
        if on_step is not None:
            on_step(name)
    return {
        "kind": "incidence",
        "raw": raw,
        "min_cell_count": policy.min_cell_count,
        "rounding_base": policy.rounding_base,
        "target_id": target_id,
        "outcome_id": outcome_id,
        "time_at_risk": {
            "start": "target cohort start",
            "end": "target cohort end" if tar_days is None else f"start + {tar_days} days",
            "capped_at": "end of the observation period",
        },
        "strata": out,
    }


__all__ = [
    "DAYS_PER_YEAR",
    "STRATA",
    "AtRisk",
    "Stratified",
    "at_risk",
    "incidence",
    "release_stratified",
    "stratify",
]
