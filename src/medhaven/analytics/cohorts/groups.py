"""SQL for criteria groups: windowed (correlated) criteria, demographic criteria, nested groups.

Semantics are Circe's. For each index event ``P`` of an event table (columns
``person_id, event_id, start_date, end_date, op_start_date, op_end_date``):

* a correlated criterion counts the criterion's events ``A`` of the same
  person whose start (or end, ``UseEventEnd``) date lies in the start window
  around the index start (or end, ``UseIndexEnd``) date, and, unless
  ``IgnoreObservationPeriod``, whose start lies in the index event's
  observation period; a bound with ``Days`` null is the observation period's
  start (``Coeff`` -1) or end (+1). The optional end window does the same for
  the event's end date (by default). The event passes when the count is
  exactly / at most / at least ``Count``;
* a demographic criterion checks age at the index date
  (``YEAR(index start) - year_of_birth``) and gender;
* a group counts its passing members: ALL needs every member, ANY at least
  one, AT_LEAST / AT_MOST a number of members. An empty group passes every
  event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from medhaven.analytics.cohorts.criteria import criterion_sql, id_list, numeric_range
from medhaven.analytics.cohorts.model import (
    CorelatedCriteria,
    CriteriaGroup,
    DemographicCriteria,
    Window,
)

_OCCURRENCE_OPS = {0: "=", 1: "<=", 2: ">="}


def _shift(expr: str, days: int) -> str:
    return f"({expr} + {int(days)})" if days else expr


def _window_clauses(window: Window, *, check_op: bool, event_end_default: bool) -> list[str]:
    index_date = "P.end_date" if window.UseIndexEnd else "P.start_date"
    use_end = event_end_default if window.UseEventEnd is None else window.UseEventEnd
    event_date = "A.end_date" if use_end else "A.start_date"
    out: list[str] = []
    for bound, op in ((window.Start, ">="), (window.End, "<=")):
        if bound.Days is not None:
            out.append(f"{event_date} {op} {_shift(index_date, bound.Coeff * bound.Days)}")
        elif check_op:
            limit = "P.op_start_date" if bound.Coeff == -1 else "P.op_end_date"
            out.append(f"{event_date} {op} {limit}")
    return out


class GroupCompiler:
    """Builds criteria-group SQL over a named event table."""

    def __init__(
        self,
        *,
        codesets: str,
        known_codesets: set[int],
        inline: Mapping[int, Sequence[int]] | None = None,
    ) -> None:
        self.codesets = codesets
        self.known_codesets = known_codesets
        self.inline = inline

    def correlated(self, cc: CorelatedCriteria, *, index: int, events: str, path: str) -> str:
        """Events of ``events`` passing one windowed criterion with its occurrence count."""
        crit = criterion_sql(
            cc.Criteria,
            codesets=self.codesets,
            known_codesets=self.known_codesets,
            inline=self.inline,
            path=f"{path}.Criteria",
        )
        check_op = not cc.IgnoreObservationPeriod
        clauses: list[str] = []
        if check_op:
            clauses.append("A.start_date >= P.op_start_date AND A.start_date <= P.op_end_date")
        clauses += _window_clauses(cc.StartWindow, check_op=check_op, event_end_default=False)
        if cc.EndWindow is not None:
            clauses += _window_clauses(cc.EndWindow, check_op=check_op, event_end_default=True)
        occ = cc.Occurrence
        on = " AND ".join(["A.person_id = P.person_id", *clauses])
        if (occ.Type, occ.Count) in ((2, 1), (1, 0), (0, 0)):
            # "At least one" / "none" need no count: a semi- or anti-join says the same
            # as Circe's join + GROUP BY + HAVING, and is much cheaper.
            exists = "EXISTS" if occ.Type == 2 else "NOT EXISTS"
            return (
                f"SELECT {index} AS index_id, P.person_id, P.event_id FROM {events} P "
                f"WHERE {exists} (SELECT 1 FROM ({crit}) A WHERE {on})"
            )
        # Counting zero needs the events without any match: Circe switches to a left join.
        join = "LEFT" if occ.Type == 1 or occ.Count == 0 else "INNER"
        return (
            f"SELECT {index} AS index_id, P.person_id, P.event_id FROM {events} P "
            f"{join} JOIN ({crit}) A ON {on} GROUP BY P.person_id, P.event_id "
            f"HAVING COUNT(A.event_id) {_OCCURRENCE_OPS[occ.Type]} {int(occ.Count)}"
        )

    @staticmethod
    def demographic(dc: DemographicCriteria, *, index: int, events: str) -> str:
        """Events of ``events`` whose person matches an age range and / or genders."""
        where: list[str] = []
        if dc.Age is not None:
            where.append(
                numeric_range("(EXTRACT(YEAR FROM E.start_date) - P.year_of_birth)", dc.Age)
            )
        if dc.Gender:
            where.append(f"P.gender_concept_id IN ({id_list([c.CONCEPT_ID for c in dc.Gender])})")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return (
            f"SELECT {index} AS index_id, E.person_id, E.event_id FROM {events} E "
            f"JOIN person P ON P.person_id = E.person_id{clause}"
        )

    def group(self, g: CriteriaGroup, *, events: str, path: str) -> str:
        """The (person_id, event_id) pairs of ``events`` that satisfy the group."""
        members: list[str] = []
        for i, cc in enumerate(g.CriteriaList):
            members.append(
                self.correlated(
                    cc, index=len(members), events=events, path=f"{path}.CriteriaList[{i}]"
                )
            )
        for dc in g.DemographicCriteriaList:
            members.append(self.demographic(dc, index=len(members), events=events))
        for i, sub in enumerate(g.Groups):
            inner = self.group(sub, events=events, path=f"{path}.Groups[{i}]")
            members.append(
                f"SELECT {len(members)} AS index_id, G.person_id, G.event_id FROM ({inner}) G"
            )
        if not members:
            return f"SELECT E.person_id, E.event_id FROM {events} E"
        n = len(members)
        if g.Type == "ALL":
            op, k = "=", n
        elif g.Type == "ANY":
            op, k = ">=", 1
        elif g.Type == "AT_LEAST":
            op, k = ">=", int(g.Count or 0)
        else:
            op, k = "<=", int(g.Count or 0)
        union = " UNION ALL ".join(members)
        # Each member yields an event at most once, so counting members per event is
        # counting index_id as Circe does.
        counted = (
            f"SELECT CQ.person_id, CQ.event_id, COUNT(*) AS n FROM ({union}) CQ "
            "GROUP BY CQ.person_id, CQ.event_id"
        )
        if k >= 1 and op in (">=", "="):
            # Events matching no member fail anyway: no need to visit the event table.
            return f"SELECT M.person_id, M.event_id FROM ({counted}) M WHERE M.n {op} {k}"
        # Zero matching members can pass (AT_MOST, or AT_LEAST 0): keep every event.
        return (
            f"SELECT E.person_id, E.event_id FROM {events} E LEFT JOIN ({counted}) M "
            "ON E.person_id = M.person_id AND E.event_id = M.event_id "
            f"WHERE COALESCE(M.n, 0) {op} {k}"
        )


__all__ = ["GroupCompiler"]
