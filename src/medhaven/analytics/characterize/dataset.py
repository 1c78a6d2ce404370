"""Dataset-level characterization in the spirit of OHDSI Achilles.

Persons by age group (at the start of their first observation period) and
sex, persons by year of birth, the length of each person's first observation
period, visits by type, the most frequent concepts per domain, and numeric
measurement value distributions per concept and unit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medhaven.analytics.characterize.queries import (
    DOMAINS,
    concept_counts,
    distributions,
    fetch,
    measurement_rows,
    require_tables,
)
from medhaven.analytics.characterize.sections import (
    ConceptCounts,
    CountFigure,
    CountTable,
    DistributionRow,
    Distributions,
    Section,
    release_document,
)
from medhaven.analytics.characterize.strata import (
    age_axis,
    age_case_sql,
    ordered_one_way,
    sex_axis,
    sex_case_sql,
    year_sql,
)
from medhaven.analytics.policy import DEFAULT_POLICY, DisclosurePolicy
from medhaven.cdm.store import CdmStore
from medhaven.errors import InvalidInput

#: Observation-period length buckets: (label, lower bound in days, upper bound exclusive).
OBSERVATION_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("<1y", 0, 365),
    ("1-2y", 365, 730),
    ("2-5y", 730, 1826),
    ("5-10y", 1826, 3652),
    ("10y+", 3652, None),
)
CONCEPT_DOMAINS = ("condition", "drug", "procedure", "measurement", "observation")
DATASET_TABLES = (
    "person",
    "observation_period",
    "concept",
    "visit_occurrence",
    *tuple(DOMAINS[d].table for d in CONCEPT_DOMAINS),
)

Progress = Callable[[str], None]


def _quiet(_step: str) -> None:
    """The default progress callback: say nothing."""


def _bucket_sql(expr: str) -> str:
    whens = []
    for label, lo, hi in OBSERVATION_BUCKETS:
        cond = f"{expr} >= {lo}" if hi is None else f"{expr} >= {lo} AND {expr} < {hi}"
        whens.append(f"WHEN {cond} THEN '{label}'")
    return f"CASE {' '.join(whens)} ELSE 'negative' END"


_FIRST_OP = (
    "first_op AS (SELECT person_id, observation_period_start_date AS op_start, "
    "observation_period_end_date AS op_end FROM ("
    "SELECT person_id, observation_period_start_date, observation_period_end_date, "
    "ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY observation_period_start_date, "
    "observation_period_end_date) AS rn FROM observation_period) r WHERE rn = 1)"
)


def person_sections(store: CdmStore) -> list[Section]:
    """Persons in total, by age group (at first observation), by sex and by year of birth."""
    age = f"({year_sql('f.op_start')} - p.year_of_birth)"
    rows = fetch(
        store,
        f"WITH {_FIRST_OP} SELECT ag, sx, COUNT(*) FROM ("
        f"SELECT {age_case_sql(age)} AS ag, {sex_case_sql('p.gender_concept_id')} AS sx "
        "FROM person p LEFT JOIN first_op f ON f.person_id = p.person_id) t GROUP BY ag, sx",
    )
    years = fetch(store, "SELECT year_of_birth, COUNT(*) FROM person GROUP BY year_of_birth")
    by_year = {str(y): int(n) for y, n in years if y is not None}
    return demographic_sections(
        {(str(a), str(s)): int(n) for a, s, n in rows},
        age_title="Persons by age group at the start of the first observation period",
        by_year=by_year,
    )


def demographic_sections(
    counts: dict[tuple[str, str], int], *, age_title: str, by_year: dict[str, int] | None = None
) -> list[Section]:
    """Total, age-group and sex tables (one-way, each with the total as its margin).

    Age and sex are released as two one-way tables rather than one cross
    table: every table then has the same total as the published person count,
    so no table's hidden entries can be recovered with the help of another.
    """
    by_age: dict[str, int] = {}
    by_sex: dict[str, int] = {}
    for (a, s), n in counts.items():
        by_age[a] = by_age.get(a, 0) + n
        by_sex[s] = by_sex.get(s, 0) + n
    sections: list[Section] = [
        CountFigure("persons", "Persons", sum(counts.values())),
        CountTable(
            "persons_by_age_group",
            age_title,
            ordered_one_way(by_age, age_axis(by_age).labels, name="persons by age group"),
            row_title="age group",
        ),
        CountTable(
            "persons_by_sex",
            "Persons by sex",
            ordered_one_way(by_sex, sex_axis(by_sex).labels, name="persons by sex"),
            row_title="sex",
        ),
    ]
    if by_year:
        # Every year between the first and last, so empty years are cells too (the
        # policy decides whether a zero may be shown).
        years = [int(y) for y in by_year]
        order = [str(y) for y in range(min(years), max(years) + 1)]
        sections.append(
            CountTable(
                "persons_by_year_of_birth",
                "Persons by year of birth",
                ordered_one_way(by_year, order, name="persons by year of birth"),
                row_title="year of birth",
            )
        )
    return sections


def observation_sections(store: CdmStore) -> list[Section]:
    """Length of each person's first observation period: buckets and a distribution."""
    days = "(op_end - op_start)"
    rows = fetch(
        store,
        f"WITH {_FIRST_OP} SELECT {_bucket_sql(days)} AS b, COUNT(*) FROM first_op GROUP BY b",
    )
    counts = {str(b): int(n) for b, n in rows}
    order = [label for label, _, _ in OBSERVATION_BUCKETS]
    if "negative" in counts:
        order.insert(0, "negative")
    dist = distributions(
        store,
        f"SELECT 0 AS k, person_id, CAST({days} AS DOUBLE PRECISION) AS value FROM first_op",
        [],
        keys=("k",),
        prefix=f"{_FIRST_OP}, ",
    )
    dist_rows = tuple(
        DistributionRow(
            key=(),
            label="first observation period",
            unit="days",
            persons=f.persons,
            records=f.records,
            stats=f.stats,
            top_records=f.top_records,
        )
        for f in dist
    )
    return [
        CountTable(
            "observation_period_length",
            "Persons by length of first observation period",
            ordered_one_way(counts, order, name="observation period length"),
            row_title="length",
        ),
        Distributions(
            "observation_period_days",
            "Length of first observation period (days)",
            key_names=(),
            rows=dist_rows,
            limit=1,
        ),
    ]


def characterize_dataset(
    store: CdmStore, *, top: int = 20, measurement_limit: int = 50, on_step: Progress | None = None
) -> list[Section]:
    """Every dataset-level section, with true figures (release them with :func:`release_dataset`)."""
    if top < 1 or measurement_limit < 1:
        raise InvalidInput("--top: must be at least 1")
    step = on_step or _quiet
    require_tables(store, DATASET_TABLES)
    sections = person_sections(store)
    step("persons")
    sections += observation_sections(store)
    step("observation periods")
    visit = DOMAINS["visit"]
    sections.append(ConceptCounts("visits_by_type", "Visits by type", tuple(concept_counts(store, visit)), top=top))  # fmt: skip
    step("visits")
    for name in CONCEPT_DOMAINS:
        rows = concept_counts(store, DOMAINS[name])
        sections.append(ConceptCounts(f"top_{name}", f"Top {name} concepts", tuple(rows), top=top))
        step(name)
    sections.append(
        Distributions(
            "measurement_values",
            "Measurement values per concept and unit",
            key_names=("concept_id", "unit_concept_id"),
            rows=tuple(measurement_rows(store)),
            limit=measurement_limit,
        )
    )
    step("measurement values")
    return sections


DATASET_STEPS = 4 + len(CONCEPT_DOMAINS)


def release_dataset(
    sections: list[Section], policy: DisclosurePolicy = DEFAULT_POLICY, *, raw: bool = False
) -> dict[str, Any]:
    """The dataset characterization as a JSON-ready document under ``policy``."""
    return release_document("dataset_characterization", sections, policy, raw=raw)


__all__ = [
    "CONCEPT_DOMAINS",
    "DATASET_STEPS",
    "OBSERVATION_BUCKETS",
    "characterize_dataset",
    "demographic_sections",
    "release_dataset",
]
