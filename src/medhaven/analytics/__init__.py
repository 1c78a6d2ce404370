"""Analytics at the node; this package holds disclosure control for every output that leaves.

* :mod:`.policy`: the node's :class:`DisclosurePolicy` (minimum cell count, rounding, ...);
* :mod:`.table`: one-way, two-way and hierarchical tables as cells plus margins;
* :mod:`.suppression`: primary and complementary suppression, then rounding;
* :mod:`.audit`: the LP audit of each suppressed entry's feasible interval;
* :mod:`.disclosure`: single counts (cohort sizes);
* :mod:`.dominance`: (n, k), p% and threshold rules for sums;
* :mod:`.noise`, :mod:`.budget`, :mod:`.private`: differential privacy with a
  persisted per-project budget;
* :mod:`.characterize`: dataset summaries, cohort Table 1 and incidence, released
  through the above;
* :mod:`.cohorts`: ATLAS / Circe cohort definitions compiled to SQL into the OMOP
  ``cohort`` table, with attrition released through the above.
"""

from medhaven.analytics.audit import CellInterval, audit_table
from medhaven.analytics.budget import BudgetExhausted, BudgetState, Cost, PrivacyLedger
from medhaven.analytics.characterize import (
    characterize_cohort,
    characterize_dataset,
    incidence,
    release_cohort,
    release_dataset,
)
from medhaven.analytics.cohorts import CohortRun, generate_cohort, released_attrition
from medhaven.analytics.disclosure import release_count
from medhaven.analytics.dominance import is_dominated, required_widths, suppress_sums
from medhaven.analytics.policy import DEFAULT_POLICY, DisclosurePolicy
from medhaven.analytics.private import PrivateRelease
from medhaven.analytics.released import ReleasedCount, ReleasedEntry, ReleasedTable, Status
from medhaven.analytics.suppression import suppress_counts
from medhaven.analytics.table import (
    LinkedTable,
    Margin,
    TableStructure,
    hierarchical,
    one_way,
    two_way,
)

__all__ = [
    "DEFAULT_POLICY",
    "BudgetExhausted",
    "BudgetState",
    "CellInterval",
    "CohortRun",
    "Cost",
    "DisclosurePolicy",
    "LinkedTable",
    "Margin",
    "PrivacyLedger",
    "PrivateRelease",
    "ReleasedCount",
    "ReleasedEntry",
    "ReleasedTable",
    "Status",
    "TableStructure",
    "audit_table",
    "characterize_cohort",
    "characterize_dataset",
    "generate_cohort",
    "hierarchical",
    "incidence",
    "is_dominated",
    "one_way",
    "release_cohort",
    "release_count",
    "release_dataset",
    "released_attrition",
    "required_widths",
    "suppress_counts",
    "suppress_sums",
    "two_way",
]
