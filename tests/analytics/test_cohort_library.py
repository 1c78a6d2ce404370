"""Every library definition against an independent plain-Python computation.

The reference below reads the raw CDM rows and applies each definition's
logic by hand (written from the definitions' descriptions and Circe's
documented semantics, not from the compiler). It runs on a generated
hospital and on Eunomia's Synthea27Nj (no ``concept_ancestor`` rows), each
loaded into DuckDB and into PostgreSQL; the cohort table rows and every
attrition stage must match exactly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import EUNOMIA_ZIP, IN_CI, postgres_url
from medhaven.analytics.cohorts import generate_cohort, library_definition, library_names, runner
from medhaven.cdm import CdmStore, open_store
from medhaven.cdm.loader import load_cdm
from medhaven.cdm.vocabulary import load_vocabulary
from medhaven.synth.generator import generate_hospital
from medhaven.synth.profiles import hospital_profiles

pytestmark = pytest.mark.slow

Date = dt.date
Row = tuple[int, Date, Date]
ONE = dt.timedelta(days=1)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


@dataclass(frozen=True)
class Ev:
    """One domain row: person, own id, start, Circe-style end, concept, value, unit."""

    pid: int
    eid: int
    start: Date
    end: Date
    concept: int
    value: float | None = None
    unit: int | None = None


@dataclass(frozen=True)
class Index:
    """An index event with its observation period."""

    pid: int
    ev: Ev
    op_start: Date
    op_end: Date

    @property
    def start(self) -> Date:
        return self.ev.start


class Reference:
    """The raw CDM rows in Python structures, and the helpers every definition needs."""

    def __init__(self, store: CdmStore) -> None:
        self.yob: dict[int, int] = {}
        self.gender: dict[int, int] = {}
        for pid, yob, gender in store.fetchall(
            "SELECT person_id, year_of_birth, gender_concept_id FROM person"
        ):
            self.yob[pid], self.gender[pid] = yob, gender
        self.ops: dict[int, list[tuple[Date, Date]]] = defaultdict(list)
        for pid, s, e in store.fetchall(
            "SELECT person_id, observation_period_start_date, observation_period_end_date "
            "FROM observation_period"
        ):
            self.ops[pid].append((s, e))
        self.cond = self._events(
            store,
            "SELECT person_id, condition_occurrence_id, condition_start_date, "
            "condition_end_date, condition_concept_id FROM condition_occurrence",
            lambda s, e: e or s + ONE,
        )
        self.drug = self._events(
            store,
            "SELECT person_id, drug_exposure_id, drug_exposure_start_date, "
            "drug_exposure_end_date, drug_concept_id FROM drug_exposure",
            lambda s, e: e or s + ONE,
        )
        self.visit = self._events(
            store,
            "SELECT person_id, visit_occurrence_id, visit_start_date, visit_end_date, "
            "visit_concept_id FROM visit_occurrence",
            lambda s, e: e,
        )
        self.meas: dict[int, list[Ev]] = defaultdict(list)
        for pid, eid, s, c, v, u in store.fetchall(
            "SELECT person_id, measurement_id, measurement_date, measurement_concept_id, "
            "value_as_number, unit_concept_id FROM measurement"
        ):
            self.meas[pid].append(Ev(pid, eid, s, s + ONE, c, v, u))
        self.death = {
            pid: d for pid, d in store.fetchall("SELECT person_id, death_date FROM death")
        }
        self.concepts: set[int] = set()
        self.valid: set[int] = set()
        for cid, invalid in store.fetchall("SELECT concept_id, invalid_reason FROM concept"):
            self.concepts.add(cid)
            if invalid is None:
                self.valid.add(cid)
        self.desc: dict[int, set[int]] = defaultdict(set)
        for a, d in store.fetchall(
            "SELECT ancestor_concept_id, descendant_concept_id FROM concept_ancestor"
        ):
            self.desc[a].add(d)
        self.mapped_from: dict[int, set[int]] = defaultdict(set)
        for c1, c2 in store.fetchall(
            "SELECT concept_id_1, concept_id_2 FROM concept_relationship "
            "WHERE relationship_id = 'Maps to' AND invalid_reason IS NULL"
        ):
            self.mapped_from[c2].add(c1)

    @staticmethod
    def _events(
        store: CdmStore, sql: str, end: Callable[[Date, Date | None], Date]
    ) -> dict[int, list[Ev]]:
        out: dict[int, list[Ev]] = defaultdict(list)
        for pid, eid, s, e, c in store.fetchall(sql):
            out[pid].append(Ev(pid, eid, s, end(s, e), c))
        return out

    def expand(
        self,
        include: list[tuple[int, bool, bool]],
        exclude: list[tuple[int, bool, bool]] | None = None,
    ) -> set[int]:
        """A concept set: (id, descendants, mapped) items, minus the excluded ones."""

        def side(items: list[tuple[int, bool, bool]]) -> set[int]:
            out: set[int] = set()
            for cid, desc, mapped in items:
                base = {cid} & self.concepts
                if desc:
                    base |= self.desc.get(cid, set()) & self.valid
                out |= base
                if mapped:
                    for c in base:
                        out |= self.mapped_from.get(c, set())
            return out

        return side(include) - side(exclude or [])

    def op(self, pid: int, d: Date) -> tuple[Date, Date] | None:
        for s, e in self.ops.get(pid, []):
            if s <= d <= e:
                return s, e
        return None

    def index(self, ev: Ev, *, prior: int = 0) -> Index | None:
        op = self.op(ev.pid, ev.start)
        if op is None or op[0] + days(prior) > ev.start:
            return None
        return Index(ev.pid, ev, op[0], op[1])

    def first(self, events: dict[int, list[Ev]], concepts: set[int]) -> list[Ev]:
        """Each person's earliest row of the concept set (Circe's ``First``)."""
        out = []
        for evs in events.values():
            hits = [e for e in evs if e.concept in concepts]
            if hits:
                out.append(min(hits, key=lambda e: (e.start, e.eid)))
        return out

    def within(self, i: Index, evs: list[Ev], lo: Date, hi: Date) -> list[Ev]:
        """Events starting in [lo, hi] and inside the index event's observation period."""
        return [e for e in evs if lo <= e.start <= hi and i.op_start <= e.start <= i.op_end]

    def age(self, i: Index) -> int:
        return i.start.year - self.yob[i.pid]


Result = tuple[list[tuple[int, int]], set[Row]]


def _stages(
    initial: list[Index], rules: list[Callable[[Index], bool]]
) -> tuple[list[tuple[int, int]], list[Index]]:
    def count(xs: list[Index]) -> tuple[int, int]:
        return len({x.pid for x in xs}), len(xs)

    out = [count(initial), count(initial)]  # no qualified limit or additional criteria used
    kept = initial
    for rule in rules:
        kept = [x for x in kept if rule(x)]
        out.append(count(kept))
    return out, kept


def _first_per_person(xs: list[Index]) -> list[Index]:
    best: dict[int, Index] = {}
    for x in sorted(xs, key=lambda x: x.start):
        best.setdefault(x.pid, x)
    return list(best.values())


def _eras(rows: list[Row], pad: int) -> set[Row]:
    by: dict[int, list[tuple[Date, Date]]] = defaultdict(list)
    for pid, s, e in rows:
        by[pid].append((s, e + days(pad)))
    out: set[Row] = set()
    for pid, periods in by.items():
        periods.sort()
        cur_s, cur_e = periods[0]
        for s, e in periods[1:]:
            if s <= cur_e:
                cur_e = max(cur_e, e)
            else:
                out.add((pid, cur_s, cur_e - days(pad)))
                cur_s, cur_e = s, e
        out.add((pid, cur_s, cur_e - days(pad)))
    return out


def _finish(
    stages: list[tuple[int, int]], included: list[Index], ends: Callable[[Index], Date], pad: int
) -> Result:
    rows = [(x.pid, x.start, ends(x)) for x in included]
    rows = [r for r in rows if r[2] >= r[1]]
    eras = _eras(rows, pad)
    stages = [
        *stages,
        (len({x.pid for x in included}), len(included)),
        (len({r[0] for r in eras}), len(eras)),
    ]
    return stages, eras


def t2dm_metformin_new_users(ref: Reference) -> Result:
    met = ref.expand([(40163924, True, False)])
    t2dm = ref.expand([(201826, True, False)])
    insulin = ref.expand([(40166274, True, False)])
    initial = [i for e in ref.first(ref.drug, met) if (i := ref.index(e, prior=90))]

    def has_t2dm(i: Index) -> bool:
        return bool(
            ref.within(i, [c for c in ref.cond[i.pid] if c.concept in t2dm], i.op_start, i.start)
        )

    def no_insulin(i: Index) -> bool:
        hits = [d for d in ref.drug[i.pid] if d.concept in insulin]
        return not ref.within(i, hits, i.start - days(365), i.start)

    stages, kept = _stages(initial, [has_t2dm, no_insulin])
    return _finish(stages, _first_per_person(kept), lambda i: min(i.start + days(365), i.op_end), 0)


def heart_failure_admission(ref: Reference) -> Result:
    inpatient = ref.expand([(9201, True, False)])
    hf = ref.expand([(316139, True, False), (4229440, True, False)])
    initial = [
        i
        for evs in ref.visit.values()
        for e in evs
        if e.concept in inpatient
        if (i := ref.index(e))
    ]

    def hf_on_admission(i: Index) -> bool:
        hits = [c for c in ref.cond[i.pid] if c.concept in hf]
        return bool(ref.within(i, hits, i.start, i.start))

    stages, kept = _stages(initial, [hf_on_admission, lambda i: ref.age(i) >= 18])
    return _finish(stages, kept, lambda i: min(i.ev.end, i.op_end), 30)


def chronic_kidney_disease(ref: Reference) -> Result:
    ckd = ref.expand([(c, True, False) for c in (443614, 443601, 443597, 443612, 193782)])
    creat = ref.expand([(3016723, False, False)])
    initial = [i for e in ref.first(ref.cond, ckd) if (i := ref.index(e))]

    def raised(i: Index) -> bool:
        hits = [
            m
            for m in ref.meas[i.pid]
            if m.concept in creat and m.value is not None and m.value > 1.5 and m.unit == 8840
        ]
        return bool(ref.within(i, hits, i.start - days(365), i.start + days(365)))

    stages, kept = _stages(initial, [raised])
    return _finish(stages, _first_per_person(kept), lambda i: i.op_end, 0)


def atrial_fibrillation_anticoagulated(ref: Reference) -> Result:
    af = ref.expand([(313217, True, False)])
    warfarin = ref.expand([(40163554, True, False)])
    initial = [i for e in ref.first(ref.cond, af) if (i := ref.index(e, prior=180))]

    def on_warfarin(i: Index) -> bool:
        hits = [d for d in ref.drug[i.pid] if d.concept in warfarin]
        return bool(ref.within(i, hits, i.start, i.start + days(90)))

    def end(i: Index) -> Date:
        stop = min(i.start + days(730), i.op_end)
        died = ref.death.get(i.pid)
        if died is not None and i.start <= died <= i.op_end:
            stop = min(stop, died)
        return stop

    stages, kept = _stages(initial, [on_warfarin])
    return _finish(stages, _first_per_person(kept), end, 0)


def essential_hypertension(ref: Reference) -> Result:
    htn = ref.expand(
        [(134057, True, False), (320128, True, False)],
        [(317576, True, False), (4329847, True, False)],
    )
    anti = ref.expand(
        [
            (1308216, True, True),
            (40185304, True, False),
            (1332419, True, False),
            (19078106, True, False),
        ]
    )
    sbp = ref.expand([(3004249, False, False)])
    hf = ref.expand([(316139, True, False), (4229440, True, False)])
    initial = [i for e in ref.first(ref.cond, htn) if (i := ref.index(e))]

    def treated_or_high(i: Index) -> bool:
        drugs = [d for d in ref.drug[i.pid] if d.concept in anti]
        high = [
            m
            for m in ref.meas[i.pid]
            if m.concept in sbp and m.value is not None and m.value >= 140 and m.unit == 8876
        ]
        return (
            len(ref.within(i, drugs, i.start, i.start + days(365))) >= 2
            or len(ref.within(i, high, i.start - days(30), i.start + days(30))) >= 1
        )

    def no_prior_hf(i: Index) -> bool:
        hits = [c for c in ref.cond[i.pid] if c.concept in hf]
        return not ref.within(i, hits, i.op_start, i.start - ONE)

    rules = [treated_or_high, lambda i: 18 <= ref.age(i) <= 85, no_prior_hf]
    stages, kept = _stages(initial, rules)
    return _finish(stages, _first_per_person(kept), lambda i: i.op_end, 0)


def hba1c_above_target(ref: Reference) -> Result:
    a1c = ref.expand([(3004410, False, False)])
    t2dm = ref.expand([(201826, True, False)])
    insulin = ref.expand([(40166274, True, False)])
    initial = [
        i
        for evs in ref.meas.values()
        for m in evs
        if m.concept in a1c and m.value is not None and m.value >= 8 and m.unit == 8554
        if (i := ref.index(m))
    ]

    def t2dm_no_insulin(i: Index) -> bool:
        diag = [c for c in ref.cond[i.pid] if c.concept in t2dm]
        ins = [d for d in ref.drug[i.pid] if d.concept in insulin]
        return bool(ref.within(i, diag, i.op_start, i.start)) and not ref.within(
            i, ins, i.start - days(90), i.start + days(90)
        )

    def man_or_50(i: Index) -> bool:
        return ref.gender[i.pid] == 8507 or ref.age(i) >= 50

    stages, kept = _stages(initial, [t2dm_no_insulin, man_or_50])
    return _finish(stages, kept, lambda i: min(i.ev.end + days(90), i.op_end), 180)


def acute_respiratory_infection(ref: Reference) -> Result:
    ari = ref.expand([(4112343, True, False), (260139, True, False)])
    treatment = ref.expand([(19073188, True, False), (1127433, True, False)])
    initial = [
        i for evs in ref.cond.values() for e in evs if e.concept in ari if (i := ref.index(e))
    ]

    def new_episode(i: Index) -> bool:
        hits = [c for c in ref.cond[i.pid] if c.concept in ari]
        return not ref.within(i, hits, i.start - days(30), i.start - ONE)

    def treated(i: Index) -> bool:
        hits = [d for d in ref.drug[i.pid] if d.concept in treatment]
        return bool(ref.within(i, hits, i.start, i.start + days(7)))

    stages, kept = _stages(initial, [new_episode, treated])
    return _finish(stages, kept, lambda i: min(i.ev.end + days(14), i.op_end), 7)


REFERENCES: dict[str, Callable[[Reference], Result]] = {
    f.__name__: f
    for f in (
        acute_respiratory_infection,
        t2dm_metformin_new_users,
        heart_failure_admission,
        chronic_kidney_disease,
        atrial_fibrillation_anticoagulated,
        essential_hypertension,
        hba1c_above_target,
    )
}


def test_every_library_definition_has_a_reference() -> None:
    assert sorted(REFERENCES) == library_names()


@dataclass
class Loaded:
    store: CdmStore
    source: str
    got: dict[str, tuple[list[tuple[int, int]], set[Row]]]
    expected: dict[str, Result]
    joined: dict[str, tuple[list[tuple[int, int]], set[Row]]]


def _generate(store: CdmStore, name: str, cid: int) -> tuple[list[tuple[int, int]], set[Row]]:
    run = generate_cohort(store, library_definition(name).expression, cohort_definition_id=cid)
    rows = {
        (int(p), s, e)
        for p, s, e in store.fetchall(
            "SELECT subject_id, cohort_start_date, cohort_end_date FROM cohort "
            "WHERE cohort_definition_id = ?",
            [cid],
        )
    }
    return [(s.persons, s.events) for s in run.stages], rows


def _fill(store: CdmStore, source: str, tmp: Path) -> None:
    if source == "generated":
        store.create_schema()
        load_vocabulary(store)
        tables = generate_hospital(hospital_profiles(2)[1], persons=1500, seed=11)
        with store.transaction():
            for name, data in tables.items():
                if name != "concept":
                    store.append_arrow(name, data)
        return
    if not EUNOMIA_ZIP.is_file():
        if IN_CI:
            pytest.fail(f"Eunomia missing at {EUNOMIA_ZIP}")
        pytest.skip("Eunomia reference data is not beside this checkout")
    load_cdm(store, EUNOMIA_ZIP)


@pytest.fixture(
    scope="module",
    params=[
        ("generated", "duckdb"),
        ("generated", "postgresql"),
        ("eunomia", "duckdb"),
        ("eunomia", "postgresql"),
    ],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    source, backend = request.param
    tmp = tmp_path_factory.mktemp(f"{source}_{backend}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = ""
    if backend == "duckdb":
        target = str(tmp / "cdm.duckdb")
    else:
        base = postgres_url() or ""
        target = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    store = open_store(target)
    try:
        _fill(store, source, tmp)
        got: dict[str, Any] = {}
        joined: dict[str, Any] = {}
        for cid, name in enumerate(library_names(), start=1):
            got[name] = _generate(store, name, cid)
            # The same definition with concept sets joined rather than inlined.
            saved, runner.INLINE_LIMIT = runner.INLINE_LIMIT, -1
            try:
                joined[name] = _generate(store, name, cid + 100)
            finally:
                runner.INLINE_LIMIT = saved
        ref = Reference(store)
        expected = {name: f(ref) for name, f in REFERENCES.items()}
        yield Loaded(store, source, got, expected, joined)
    finally:
        store.close()
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(
                base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
            ) as con:
                con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_library_definition_matches_the_independent_computation(loaded: Loaded, name: str) -> None:
    got_stages, got_rows = loaded.got[name]
    want_stages, want_rows = loaded.expected[name]
    assert got_stages == want_stages
    assert got_rows == want_rows
    assert loaded.joined[name] == (want_stages, want_rows)
    if loaded.source == "generated":
        # The library is meant to give non-trivial cohorts on generated hospitals.
        assert len({r[0] for r in got_rows}) >= 20
    elif name in EUNOMIA_NON_EMPTY:
        assert got_rows, "expected a non-empty cohort on Eunomia"


# Eunomia's 28 Synthea persons have few of the library's conditions; these two give cohorts.
EUNOMIA_NON_EMPTY = {"acute_respiratory_infection", "essential_hypertension"}
