"""Cohort definitions: OHDSI ATLAS / Circe JSON compiled to SQL, run on DuckDB and PostgreSQL.

* :mod:`.model`: typed pydantic models of the supported Circe subset (Circe's field names);
* :mod:`.library`: reading definition files and the shipped example library;
* :mod:`.criteria`, :mod:`.groups`, :mod:`.compiler`: the one dialect-neutral SQL builder;
* :mod:`.runner`: generation into the OMOP ``cohort`` table, with attrition counts;
* :mod:`.release`: disclosure control of counts and attrition before they leave.
"""

from medhaven.analytics.cohorts.compiler import CompiledCohort, compile_cohort
from medhaven.analytics.cohorts.library import (
    Definition,
    library_definition,
    library_names,
    load_definition,
    parse_expression,
    resolve,
)
from medhaven.analytics.cohorts.model import CohortExpression
from medhaven.analytics.cohorts.release import raw_attrition, released_attrition
from medhaven.analytics.cohorts.runner import (
    CohortRun,
    Stage,
    cohort_table,
    ensure_cohort_table,
    generate_cohort,
)

__all__ = [
    "CohortExpression",
    "CohortRun",
    "CompiledCohort",
    "Definition",
    "Stage",
    "cohort_table",
    "compile_cohort",
    "ensure_cohort_table",
    "generate_cohort",
    "library_definition",
    "library_names",
    "load_definition",
    "parse_expression",
    "raw_attrition",
    "released_attrition",
    "resolve",
]
