"""Analytics at the node; this package holds disclosure control for every output that leaves.

* :mod:`.policy`: the node's :class:`DisclosurePolicy` (minimum cell count, rounding, ...);
* :mod:`.table`: one-way, two-way and hierarchical tables as cells plus margins;
* :mod:`.suppression`: primary and complementary suppression, then rounding;
* :mod:`.audit`: the LP audit of each suppressed entry's feasible interval;
* :mod:`.disclosure`: single counts (cohort sizes) and the public entry points.
"""

from medhaven.analytics.audit import CellInterval, audit_table
from medhaven.analytics.policy import DEFAULT_POLICY, DisclosurePolicy
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
    "CellInterval",
    "DisclosurePolicy",
    "LinkedTable",
    "Margin",
    "ReleasedCount",
    "ReleasedEntry",
    "ReleasedTable",
    "Status",
    "TableStructure",
    "audit_table",
    "hierarchical",
    "one_way",
    "suppress_counts",
    "two_way",
]
