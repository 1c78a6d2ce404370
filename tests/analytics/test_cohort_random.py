"""Random windows, occurrence counts and group types against a plain-Python evaluation.

A seeded random tiny CDM (some drugs before the observation period starts)
and random inclusion rules; the persons in the cohort must be those the
Python evaluation of Circe's rules (written here, separately) picks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from test_cohort_support import TinyCdm, correlated, cset, definition, group, item

from medhaven.analytics.cohorts import generate_cohort, parse_expression
from medhaven.cdm import CdmStore

COND, DRUG_A, DRUG_B = 10, 21, 22
OPS = {0: lambda n, k: n == k, 1: lambda n, k: n <= k, 2: lambda n, k: n >= k}


@dataclass(frozen=True)
class Person:
    pid: int
    op: tuple[int, int]
    index: int
    drugs: tuple[tuple[int, int, int], ...]  # (concept, start, end)


def _population(rng: random.Random) -> list[Person]:
    people = []
    for pid in range(1, 41):
        op = (rng.choice([0, 0, 60]), 400)
        index = rng.randint(120, 300)
        drugs = tuple(
            (rng.choice([DRUG_A, DRUG_B]), s, s + rng.choice([0, 5, 30]))
            for s in (rng.randint(20, 380) for _ in range(rng.randint(0, 5)))
        )
        people.append(Person(pid, op, index, drugs))
    return people


def _bound(rng: random.Random) -> dict[str, Any]:
    b: dict[str, Any] = {"Coeff": rng.choice([-1, 1])}
    if rng.random() < 0.8:
        b["Days"] = rng.choice([0, 1, 7, 30, 90])
    return b


def _window(rng: random.Random) -> dict[str, Any]:
    w: dict[str, Any] = {"Start": _bound(rng), "End": _bound(rng)}
    if rng.random() < 0.3:
        w["UseEventEnd"] = True
    return w


def _passes(p: Person, cc: dict[str, Any]) -> bool:
    """Circe's correlated criterion for this person's (single) index event, in Python."""
    concept = DRUG_A if cc["Criteria"]["DrugExposure"]["CodesetId"] == 1 else DRUG_B
    check_op = not cc.get("IgnoreObservationPeriod", False)
    win = cc["StartWindow"]
    use_end = win.get("UseEventEnd", False)
    n = 0
    for c, start, end in p.drugs:
        if c != concept:
            continue
        if check_op and not p.op[0] <= start <= p.op[1]:
            continue
        date = end if use_end else start
        ok = True
        for key, cmp in (("Start", lambda d, x: d >= x), ("End", lambda d, x: d <= x)):
            bound = win[key]
            if "Days" in bound:
                limit = p.index + bound["Coeff"] * bound["Days"]
            elif check_op:
                limit = p.op[0] if bound["Coeff"] == -1 else p.op[1]
            else:
                continue
            ok = ok and cmp(date, limit)
        n += ok
    occ = cc["Occurrence"]
    return bool(OPS[occ["Type"]](n, occ["Count"]))


def _group_passes(p: Person, g: dict[str, Any]) -> bool:
    hits = sum(_passes(p, cc) for cc in g["CriteriaList"])
    size = len(g["CriteriaList"])
    return {
        "ALL": hits == size,
        "ANY": hits >= 1,
        "AT_LEAST": hits >= g.get("Count", 0),
        "AT_MOST": hits <= g.get("Count", 0),
    }[g["Type"]]


def test_random_rules_match_the_python_evaluation(store: CdmStore) -> None:
    rng = random.Random(20261203)
    people = _population(rng)
    cdm = TinyCdm(store)
    for c in (COND, DRUG_A, DRUG_B):
        cdm.concept(c)
    for p in people:
        cdm.person(p.pid, op=p.op)
        cdm.condition(p.pid, COND, p.index)
        for c, s, e in p.drugs:
            cdm.drug(p.pid, c, s, e)
    sets = [cset(0, item(COND)), cset(1, item(DRUG_A)), cset(2, item(DRUG_B))]
    sizes: list[int] = []
    for case in range(1, 41):
        crits = [
            correlated(
                "DrugExposure",
                {"CodesetId": rng.choice([1, 2])},
                _window(rng),
                rng.choice([0, 1, 2]),
                rng.choice([0, 1, 2]),
                IgnoreObservationPeriod=rng.random() < 0.2,
            )
            for _ in range(rng.randint(1, 3))
        ]
        typ = rng.choice(["ALL", "ANY", "AT_LEAST", "AT_MOST"])
        g = group(typ, crit=crits, count=rng.randint(0, 2) if typ.startswith("AT_") else None)
        expr = definition([{"ConditionOccurrence": {"CodesetId": 0}}], sets=sets, rules=[g])
        generate_cohort(store, parse_expression(expr), cohort_definition_id=case)
        got = {
            int(r[0])
            for r in store.fetchall(
                "SELECT subject_id FROM cohort WHERE cohort_definition_id = ?", [case]
            )
        }
        want = {p.pid for p in people if _group_passes(p, g)}
        assert got == want, (case, g)
        sizes.append(len(want))
    # The random rules must cut the population in varied ways for the test to mean much.
    assert len(set(sizes)) >= 8, sizes
