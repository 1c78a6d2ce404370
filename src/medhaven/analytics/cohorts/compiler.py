"""Compile a cohort definition into an ordered list of dialect-neutral SQL steps.

One builder for DuckDB and PostgreSQL: each step is ``(temp table, SELECT)``
and the runner creates them in order with ``CREATE TEMP TABLE ... AS``. The
pipeline mirrors Circe's generated script:

1. ``codesets``: every concept set expanded (descendants through
   ``concept_ancestor``, mapped source concepts through ``concept_relationship``
   'Maps to', minus excluded items with their own descendants / mapped);
2. ``primary_events``: the primary criteria's events inside an observation
   period with the required prior / post days, limited to the first / last per
   person if asked;
3. ``qualified_events``: additional criteria, then the qualified limit;
4. ``rule_<i>``: the events satisfying inclusion rules 0 .. i (each rule is
   evaluated on the events that passed the rules before it; the attrition);
5. ``included_events``: events satisfying every rule, then the expression limit;
6. ``cohort_rows``: each event's end (end strategy, censoring; the earliest
   end on or after the start wins);
7. ``final_cohort``: rows merged into eras when closer than ``EraPad`` days.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medhaven.analytics.cohorts.criteria import criterion_sql, id_list
from medhaven.analytics.cohorts.groups import GroupCompiler
from medhaven.analytics.cohorts.model import CohortExpression, ConceptSet, ResultLimit


@dataclass(frozen=True)
class Step:
    """One temp table and the SELECT that fills it."""

    name: str
    sql: str


@dataclass(frozen=True)
class CompiledCohort:
    """The steps, the temp-table names the runner reads, and the rule names."""

    steps: tuple[Step, ...]
    primary_events: str
    qualified_events: str
    rule_tables: tuple[str, ...]
    included_events: str
    final_cohort: str
    rule_names: tuple[str, ...]

    def script(self) -> str:
        """The whole pipeline as one readable SQL script (``medhaven cohort sql``, review)."""
        return "\n".join(f"CREATE TEMP TABLE {s.name} AS\n{s.sql};\n" for s in self.steps)


_EMPTY_CONCEPTS = "SELECT CAST(NULL AS BIGINT) AS concept_id WHERE 1 = 0"


def _expanded(ids: list[int], descendants: list[int], mapped_base: str | None) -> str:
    parts: list[str] = []
    if ids:
        parts.append(f"SELECT concept_id FROM concept WHERE concept_id IN ({id_list(ids)})")
    if descendants:
        parts.append(
            "SELECT c.concept_id FROM concept c JOIN concept_ancestor ca "
            "ON c.concept_id = ca.descendant_concept_id "
            f"AND ca.ancestor_concept_id IN ({id_list(descendants)}) AND c.invalid_reason IS NULL"
        )
    if mapped_base is not None:
        parts.append(
            f"SELECT cr.concept_id_1 AS concept_id FROM ({mapped_base}) m "
            "JOIN concept_relationship cr ON m.concept_id = cr.concept_id_2 "
            "AND cr.relationship_id = 'Maps to' AND cr.invalid_reason IS NULL"
        )
    return " UNION ".join(parts) if parts else _EMPTY_CONCEPTS


def _side(cs: ConceptSet, *, excluded: bool) -> str:
    items = [i for i in cs.expression.items if i.isExcluded == excluded]
    ids = [i.concept.CONCEPT_ID for i in items]
    desc = [i.concept.CONCEPT_ID for i in items if i.includeDescendants]
    mapped_items = [i for i in items if i.includeMapped]
    mapped_base = None
    if mapped_items:
        mapped_base = _expanded(
            [i.concept.CONCEPT_ID for i in mapped_items],
            [i.concept.CONCEPT_ID for i in mapped_items if i.includeDescendants],
            None,
        )
    return _expanded(ids, desc, mapped_base)


def concept_set_sql(cs: ConceptSet) -> str:
    """The concept ids of one concept set (Circe's include-minus-exclude expansion)."""
    include = _side(cs, excluded=False)
    if not any(i.isExcluded for i in cs.expression.items):
        return f"SELECT DISTINCT I.concept_id FROM ({include}) I"
    exclude = _side(cs, excluded=True)
    return (
        f"SELECT DISTINCT I.concept_id FROM ({include}) I "
        f"LEFT JOIN ({exclude}) E ON I.concept_id = E.concept_id WHERE E.concept_id IS NULL"
    )


def _limit_sort(limit: ResultLimit) -> str:
    return "DESC" if limit.Type == "Last" else "ASC"


_EVENT_COLS = (
    "person_id, event_id, start_date, end_date, op_start_date, op_end_date, visit_occurrence_id"
)


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in _EVENT_COLS.split(","))


def compile_cohort(
    expr: CohortExpression,
    *,
    prefix: str | None = None,
    inline: Mapping[int, Sequence[int]] | None = None,
) -> CompiledCohort:
    """Compile a validated definition; raises ``InvalidInput`` naming a bad reference.

    ``inline`` maps codeset ids to their expanded concept ids (read back from the
    ``codesets`` step) so that criteria filter with ``IN`` lists; without it they join
    the codesets table. Both give the same rows.
    """
    p = prefix or f"mh_cohort_{uuid.uuid4().hex[:10]}"
    t = {
        n: f"{p}_{n}"
        for n in (
            "codesets",
            "primary_events",
            "qualified_events",
            "included_events",
            "cohort_rows",
            "final_cohort",
        )
    }
    known = {cs.id for cs in expr.ConceptSets}
    steps: list[Step] = []

    sets = [
        f"SELECT CAST({int(cs.id)} AS BIGINT) AS codeset_id, CAST(S.concept_id AS BIGINT) AS "
        f"concept_id FROM ({concept_set_sql(cs)}) S"
        for cs in expr.ConceptSets
    ]
    codesets_sql = (
        " UNION ALL ".join(sets)
        if sets
        else "SELECT CAST(0 AS BIGINT) AS codeset_id, CAST(0 AS BIGINT) AS concept_id WHERE 1 = 0"
    )
    steps.append(Step(t["codesets"], codesets_sql))

    groups = GroupCompiler(codesets=t["codesets"], known_codesets=known, inline=inline)

    # 2. Primary events.
    pc = expr.PrimaryCriteria
    crits = " UNION ALL ".join(
        criterion_sql(
            c,
            codesets=t["codesets"],
            known_codesets=known,
            inline=inline,
            path=f"PrimaryCriteria.CriteriaList[{i}]",
        )
        for i, c in enumerate(pc.CriteriaList)
    )
    prior, post = pc.ObservationWindow.PriorDays, pc.ObservationWindow.PostDays
    sort = _limit_sort(pc.PrimaryCriteriaLimit)
    ranked = (
        "SELECT E.person_id, E.start_date, E.end_date, E.visit_occurrence_id, "
        "OP.observation_period_start_date AS op_start_date, "
        "OP.observation_period_end_date AS op_end_date, "
        f"row_number() OVER (PARTITION BY E.person_id ORDER BY E.start_date {sort}, "
        f"E.end_date {sort}, E.event_id) AS event_id "
        f"FROM ({crits}) E JOIN observation_period OP ON E.person_id = OP.person_id "
        "AND E.start_date >= OP.observation_period_start_date "
        "AND E.start_date <= OP.observation_period_end_date "
        f"WHERE OP.observation_period_start_date + {int(prior)} <= E.start_date "
        f"AND E.start_date + {int(post)} <= OP.observation_period_end_date"
    )
    limit = " WHERE R.event_id = 1" if pc.PrimaryCriteriaLimit.Type != "All" else ""
    steps.append(Step(t["primary_events"], f"SELECT {_cols('R')} FROM ({ranked}) R{limit}"))

    # 3. Qualified events: additional criteria, then the qualified limit. A limit on a
    # table that already holds at most one event per person changes nothing: skip it.
    one_per_person = pc.PrimaryCriteriaLimit.Type != "All"
    has_additional = expr.AdditionalCriteria is not None and expr.AdditionalCriteria.size() > 0
    qualified_table = t["primary_events"]
    if has_additional or (expr.QualifiedLimit.Type != "All" and not one_per_person):
        join = ""
        if expr.AdditionalCriteria is not None and has_additional:
            ac = groups.group(
                expr.AdditionalCriteria, events=t["primary_events"], path="AdditionalCriteria"
            )
            join = f" JOIN ({ac}) AC ON AC.person_id = pe.person_id AND AC.event_id = pe.event_id"
        qsort = _limit_sort(expr.QualifiedLimit)
        qualified = (
            f"SELECT {_cols('pe')}, row_number() OVER (PARTITION BY pe.person_id "
            f"ORDER BY pe.start_date {qsort}, pe.event_id) AS ordinal "
            f"FROM {t['primary_events']} pe{join}"
        )
        qlimit = " WHERE Q.ordinal = 1" if expr.QualifiedLimit.Type != "All" else ""
        qualified_table = t["qualified_events"]
        steps.append(Step(qualified_table, f"SELECT {_cols('Q')} FROM ({qualified}) Q{qlimit}"))
    one_per_person = one_per_person or expr.QualifiedLimit.Type != "All"

    # 4. Inclusion rules, in order, each on the events that passed the ones before.
    # A rule's verdict on an event depends on that event alone, so this gives Circe's
    # "all rules" set and its cumulative attrition without evaluating every rule on
    # every qualified event.
    rule_tables: list[str] = []
    source = qualified_table
    for i, r in enumerate(expr.InclusionRules):
        g = groups.group(r.expression, events=source, path=f"InclusionRules[{i}].expression")
        name = f"{p}_rule_{i}"
        steps.append(
            Step(
                name,
                f"SELECT {_cols('Q')} FROM {source} Q JOIN ({g}) G "
                "ON G.person_id = Q.person_id AND G.event_id = Q.event_id",
            )
        )
        rule_tables.append(name)
        source = name

    # 5. The expression limit (again a no-op when each person has one event at most).
    inc = source
    if expr.ExpressionLimit.Type != "All" and not one_per_person:
        esort = _limit_sort(expr.ExpressionLimit)
        ranked_inc = (
            f"SELECT {_cols('S')}, row_number() OVER (PARTITION BY S.person_id "
            f"ORDER BY S.start_date {esort}, S.event_id) AS ordinal FROM {source} S"
        )
        inc = t["included_events"]
        steps.append(Step(inc, f"SELECT {_cols('X')} FROM ({ranked_inc}) X WHERE X.ordinal = 1"))

    # 6. Cohort rows: the earliest end among the strategy end and censoring events.
    if expr.EndStrategy is None:
        ends = [f"SELECT event_id, person_id, op_end_date AS end_date FROM {inc}"]
    else:
        off = expr.EndStrategy.DateOffset
        field = "start_date" if off.DateField == "StartDate" else "end_date"
        shifted = f"({field} + {int(off.Offset)})"
        ends = [
            f"SELECT event_id, person_id, CASE WHEN {shifted} > op_end_date THEN op_end_date "
            f"ELSE {shifted} END AS end_date FROM {inc}"
        ]
    if expr.CensoringCriteria:
        censor = " UNION ALL ".join(
            criterion_sql(
                c,
                codesets=t["codesets"],
                known_codesets=known,
                inline=inline,
                path=f"CensoringCriteria[{i}]",
            )
            for i, c in enumerate(expr.CensoringCriteria)
        )
        ends.append(
            f"SELECT I.event_id, I.person_id, MIN(C.start_date) AS end_date FROM {inc} I "
            f"JOIN ({censor}) C ON C.person_id = I.person_id AND C.start_date >= I.start_date "
            "AND C.start_date <= I.op_end_date GROUP BY I.event_id, I.person_id"
        )
    steps.append(
        Step(
            t["cohort_rows"],
            f"SELECT I.person_id, I.start_date, MIN(CE.end_date) AS end_date FROM {inc} I "
            f"JOIN ({' UNION ALL '.join(ends)}) CE ON I.event_id = CE.event_id "
            "AND I.person_id = CE.person_id AND CE.end_date >= I.start_date "
            "GROUP BY I.person_id, I.event_id, I.start_date",
        )
    )

    # 7. Eras: rows whose (padded) periods touch or overlap are merged.
    pad = int(expr.CollapseSettings.EraPad)
    era = (
        f"SELECT person_id, MIN(start_date) AS start_date, MAX(end_date) - {pad} AS end_date FROM ("
        "SELECT person_id, start_date, end_date, SUM(is_start) OVER (PARTITION BY person_id "
        "ORDER BY start_date, is_start DESC ROWS UNBOUNDED PRECEDING) AS group_idx FROM ("
        "SELECT person_id, start_date, end_date, CASE WHEN MAX(end_date) OVER (PARTITION BY "
        "person_id ORDER BY start_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) "
        ">= start_date THEN 0 ELSE 1 END AS is_start FROM ("
        f"SELECT person_id, start_date, end_date + {pad} AS end_date FROM {t['cohort_rows']}"
        ") CR) ST) GR GROUP BY person_id, group_idx"
    )
    steps.append(Step(t["final_cohort"], era))

    return CompiledCohort(
        steps=tuple(steps),
        primary_events=t["primary_events"],
        qualified_events=qualified_table,
        rule_tables=tuple(rule_tables),
        included_events=inc,
        final_cohort=t["final_cohort"],
        rule_names=tuple(r.name or f"rule {i + 1}" for i, r in enumerate(expr.InclusionRules)),
    )


__all__ = ["CompiledCohort", "Step", "compile_cohort", "concept_set_sql"]
