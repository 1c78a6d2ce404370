"""Cohort "Table 1": who is in a cohort of the standard OMOP ``cohort`` table.

Each subject counts once, at their first entry (earliest
``cohort_start_date``) into the cohort: age group at index and sex, the most
frequent conditions, drugs and procedures in the 365 days before index (index
day included, as OHDSI FeatureExtraction's long-term window), and numeric
measurement summaries in the same window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medhaven.analytics.characterize.dataset import demographic_sections
from medhaven.analytics.characterize.queries import (
    DOMAINS,
    concept_counts,
    fetch,
    index_cte,
    measurement_rows,
    require_tables,
)
from medhaven.analytics.characterize.sections import (
    ConceptCounts,
    Distributions,
    Section,
    release_document,
)
from medhaven.analytics.characterize.strata import age_case_sql, sex_case_sql, year_sql
from medhaven.analytics.policy import DEFAULT_POLICY, DisclosurePolicy
from medhaven.cdm.store import CdmStore
from medhaven.errors import InvalidInput, NotFound

WINDOW_DAYS = 365
TABLE1_DOMAINS = ("condition", "drug", "procedure")
COHORT_TABLES = (
    "cohort",
    "person",
    "concept",
    "measurement",
    *tuple(DOMAINS[d].table for d in TABLE1_DOMAINS),
)

Progress = Callable[[str], None]


def _quiet(_step: str) -> None:
    """The default progress callback: say nothing."""


def check_cohort(store: CdmStore, cohort_id: int, *, option: str = "--cohort-id") -> int:
    """The number of subjects of cohort ``cohort_id``; NotFound if the table or the cohort is missing."""
    if isinstance(cohort_id, bool) or not isinstance(cohort_id, int):
        raise InvalidInput(f"{option}: must be a whole number")
    if "cohort" not in store.table_names():
        raise NotFound("the CDM store has no cohort table: generate the cohort first")
    n = fetch(
        store,
        "SELECT COUNT(DISTINCT subject_id) FROM cohort WHERE cohort_definition_id = ?",
        [cohort_id],
    )[0][0]
    if not n:
        raise NotFound(f"{option}: cohort {cohort_id} has no rows in the cohort table")
    return int(n)


def characterize_cohort(
    store: CdmStore,
    cohort_id: int,
    *,
    top: int = 20,
    measurement_limit: int = 50,
    on_step: Progress | None = None,
) -> list[Section]:
    """The Table 1 sections of cohort ``cohort_id`` with true figures."""
    if top < 1 or measurement_limit < 1:
        raise InvalidInput("--top: must be at least 1")
    step = on_step or _quiet
    check_cohort(store, cohort_id)
    require_tables(store, COHORT_TABLES)
    age = f"({year_sql('idx.index_date')} - p.year_of_birth)"
    rows = fetch(
        store,
        f"WITH {index_cte()} SELECT ag, sx, COUNT(*) FROM ("
        f"SELECT {age_case_sql(age)} AS ag, {sex_case_sql('p.gender_concept_id')} AS sx "
        "FROM idx JOIN person p ON p.person_id = idx.person_id) t GROUP BY ag, sx",
        [cohort_id],
    )
    counts = {(str(a), str(s)): int(n) for a, s, n in rows}
    persons = sum(counts.values())
    sections = demographic_sections(counts, age_title="Persons by age group at index")
    step("demographics")
    for name in TABLE1_DOMAINS:
        found = concept_counts(store, DOMAINS[name], cohort_id=cohort_id, window_days=WINDOW_DAYS)
        sections.append(
            ConceptCounts(
                f"prior_{name}",
                f"Most frequent {name} concepts in the {WINDOW_DAYS} days before index",
                tuple(found),
                top=top,
                denominator=persons,
            )
        )
        step(name)
    sections.append(
        Distributions(
            "prior_measurement_values",
            f"Measurement values in the {WINDOW_DAYS} days before index",
            key_names=("concept_id", "unit_concept_id"),
            rows=tuple(measurement_rows(store, cohort_id=cohort_id, window_days=WINDOW_DAYS)),
            limit=measurement_limit,
        )
    )
    step("measurements")
    return sections


COHORT_STEPS = 2 + len(TABLE1_DOMAINS)


def release_cohort(
    sections: list[Section],
    cohort_id: int,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    *,
    raw: bool = False,
) -> dict[str, Any]:
    """Table 1 as a JSON-ready document under ``policy``."""
    return release_document(
        "cohort_characterization",
        sections,
        policy,
        raw=raw,
        meta={"cohort_id": cohort_id, "window_days": WINDOW_DAYS},
    )


__all__ = [
    "COHORT_STEPS",
    "TABLE1_DOMAINS",
    "WINDOW_DAYS",
    "characterize_cohort",
    "check_cohort",
    "release_cohort",
]
