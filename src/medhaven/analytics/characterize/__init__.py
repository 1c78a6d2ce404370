"""Characterization and incidence at the node, released only through disclosure control.

* :mod:`.dataset`: Achilles-style dataset summaries (persons by age, sex and
  year of birth, observation periods, visits, top concepts per domain,
  measurement value distributions);
* :mod:`.cohort`: a cohort's "Table 1" from the standard OMOP ``cohort`` table;
* :mod:`.incidence`: incidence proportion and rate per 1,000 person-years of
  an outcome cohort within a target cohort, overall and by age group, sex and
  calendar year;
* :mod:`.sections`: the section types and how each is released;
* :mod:`.queries`, :mod:`.strata`: the one dialect-neutral SQL path (DuckDB and
  PostgreSQL) and the shared strata.
"""

from medhaven.analytics.characterize.cohort import (
    characterize_cohort,
    check_cohort,
    release_cohort,
)
from medhaven.analytics.characterize.dataset import characterize_dataset, release_dataset
from medhaven.analytics.characterize.incidence import AtRisk, at_risk, incidence
from medhaven.analytics.characterize.sections import Section

__all__ = [
    "AtRisk",
    "Section",
    "at_risk",
    "characterize_cohort",
    "characterize_dataset",
    "check_cohort",
    "incidence",
    "release_cohort",
    "release_dataset",
]
