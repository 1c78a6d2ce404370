"""The full demo's hub: organisations, a user per role, datasets, a project and an active grant.

Everything is created through the hub's own services (the same code the API
calls), so the audit chain records it like any other change: the three
hospitals with a custodian each and a dataset per node (named like the node:
the hub targets a dataset's node by its name), a university (researcher,
instructor, student), a startup (a company, with a researcher), and the
ministry, a central review board (reviewer, program officer, admin). The
researcher leads a project with the student as a member, asks for access to
every dataset, and the ministry's reviewer approves: the project holds an
active grant. The university runs the course "Medical AI 101" (the instructor, a
teaching assistant, six students) on the last hospital's dataset (flagged for teaching), with a quiz lab and a
prediction challenge; the program officer sets the year's trainee targets.

Passwords are random per installation and kept in ``OUT/logins.json`` (mode
0600), written last: a hub database without it is seeded again from nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from medhaven.demo import HospitalSummary
from medhaven.demo_data import write_json
from medhaven.errors import InvalidInput
from medhaven.hub.db import Database, database_url
from medhaven.hub.models import (
    AccessRequest,
    CourseRole,
    Decision,
    OrgKind,
    ProjectType,
    Role,
    User,
)
from medhaven.hub.schemas import DatasetCreate, ProjectCreate, RequestCreate, ReviewCreate
from medhaven.hub.services import (
    access,
    catalogue,
    challenges,
    courses,
    identity,
    program,
    projects,
    review,
)
from medhaven.hub.services.common import SYSTEM_ACTOR, Principal

LOGINS = "logins.json"
UNIVERSITY = "Hanguk National University"
STARTUP = "Medisense AI (startup)"
MINISTRY = "Ministry of Health and Welfare"
DOMAINS = ["person", "visit", "condition", "drug", "procedure", "measurement", "observation"]

#: (login name, role, organisation, display name) besides one custodian per hospital.
PEOPLE: tuple[tuple[str, Role, str, str], ...] = (
    ("researcher", Role.RESEARCHER, UNIVERSITY, "Dr. Min-jun Park"),
    ("student", Role.STUDENT, UNIVERSITY, "Ji-woo Lee"),
    ("instructor", Role.INSTRUCTOR, UNIVERSITY, "Prof. Seo-yeon Choi"),
    ("startup", Role.RESEARCHER, STARTUP, "Do-hyun Jung"),
    ("reviewer", Role.REVIEWER, MINISTRY, "Dr. Eun-ji Kang (review board)"),
    ("officer", Role.PROGRAM_OFFICER, MINISTRY, "Hye-jin Yoon"),
    ("admin", Role.ADMIN, MINISTRY, "Hub administrator"),
    ("ta", Role.STUDENT, UNIVERSITY, "Seung-woo Han (teaching assistant)"),
)
#: the students of the demo course "Medical AI 101" besides ``student`` (all at the university)
TRAINEES: tuple[tuple[str, str], ...] = (
    ("trainee1", "Ha-eun Kim"), ("trainee2", "Jun-seo Oh"), ("trainee3", "Ye-jin Song"),
    ("trainee4", "Tae-yang Lim"), ("trainee5", "Soo-ah Baek"),
)  # fmt: skip
QUIZ = {"questions": [
    {"id": "q1", "text": "Which figure says how well a model ranks patients by risk?",
     "choices": ["AUROC", "Calibration slope"], "answer": "AUROC"},
    {"id": "q2", "text": "May a count of 3 patients leave a hospital's node?",
     "choices": ["yes", "no"], "answer": "no"},
]}  # fmt: skip
CHALLENGE_TASK = {"name": "ckd", "target_cohort": "essential_hypertension",
                  "outcome_cohort": "chronic_kidney_disease",
                  "features": {"windows": [365], "counts": False, "measurement_values": False}}  # fmt: skip


@dataclass(frozen=True)
class HubSeed:
    """What the demo seeded: logins (email, password, role, org), the project and datasets."""

    users: list[dict[str, str]]
    project_id: int
    datasets: dict[str, int]

    def login(self, key: str) -> dict[str, str]:
        """The login of one seeded user by its key (``researcher``, ``reviewer`` ...)."""
        for user in self.users:
            if user["key"] == key:
                return user
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """What ``OUT/logins.json`` holds."""
        return {"users": self.users, "project_id": self.project_id, "datasets": self.datasets}


def _principal(user: User) -> Principal:
    return Principal(user_id=user.id, roles=identity.roles_of(user), via="cli")


def _email(key: str) -> str:
    return f"{key}@demo.medhaven.example"


def _seed(db: Database, hospitals: list[HospitalSummary]) -> HubSeed:
    users: list[dict[str, str]] = []
    made: dict[str, User] = {}

    def person(s: Any, key: str, role: Role, org_id: int, org: str, name: str) -> None:
        password = secrets.token_urlsafe(12)
        made[key] = identity.create_user(s, email=_email(key), password=password, name=name,
                                         org_id=org_id, role=role, actor=SYSTEM_ACTOR)  # fmt: skip
        users.append({"key": key, "email": _email(key), "password": password,
                      "role": role.value, "org": org})  # fmt: skip

    now = dt.datetime.now(dt.UTC)
    with db.unit() as s:
        orgs: dict[str, int] = {}
        for h in hospitals:
            orgs[h.slug] = identity.create_org(s, name=h.name_en, kind=OrgKind.HOSPITAL,
                                               actor=SYSTEM_ACTOR).id  # fmt: skip
            person(s, f"custodian-{h.slug}", Role.CUSTODIAN, orgs[h.slug], h.name_en,
                   f"Data custodian, {h.name_en}")  # fmt: skip
        for name, kind in ((UNIVERSITY, OrgKind.UNIVERSITY), (STARTUP, OrgKind.COMPANY)):
            orgs[name] = identity.create_org(s, name=name, kind=kind, actor=SYSTEM_ACTOR).id
        orgs[MINISTRY] = identity.create_org(s, name=MINISTRY, kind=OrgKind.MINISTRY,
                                             actor=SYSTEM_ACTOR, review_board=True).id  # fmt: skip
        for key, role, org, display in PEOPLE:
            person(s, key, role, orgs[org], org, display)
        datasets: dict[str, int] = {}
        for h in hospitals:
            body = DatasetCreate(
                org_id=orgs[h.slug], name=h.slug, domains=DOMAINS,  # type: ignore[arg-type]
                description=f"{h.name_en} ({h.name_ko}): de-identified OMOP CDM of the "
                f"hospital's synthetic patients; node {h.slug}",
                person_count=h.persons, terms_of_use="No re-identification. Demo data.",
                teaching=h is hospitals[-1],  # synthetic, offered for teaching: the course's
            )  # fmt: skip
            ds = catalogue.publish(s, _principal(made[f"custodian-{h.slug}"]), body,
                                   min_cell_count=5)  # fmt: skip
            datasets[h.slug] = ds.id
        lead = _principal(made["researcher"])
        project = projects.create(s, lead, ProjectCreate(
            title="Heart failure and diabetes across three hospitals",
            purpose="Characterise the hospitals' populations and count cohorts before a "
            "federated prediction study.", type=ProjectType.ACADEMIC, ethics_ref="IRB-DEMO-001",
            domains=DOMAINS,  # type: ignore[arg-type]
            start_date=now.date(), end_date=now.date() + dt.timedelta(days=730),
        ))  # fmt: skip
        projects.add_member(s, lead, project.id, made["student"].id)
        req = access.create_request(s, lead, RequestCreate(
            project_id=project.id, dataset_ids=sorted(datasets.values()),
            justification="Feasibility counts and characterization for the study protocol.",
        ))  # fmt: skip
        review.decide(s, _principal(made["reviewer"]), req.id, ReviewCreate(
            decision=Decision.APPROVE, conditions="Aggregate results only.",
            expires_at=now + dt.timedelta(days=365),
        ))  # fmt: skip
        for key, display in TRAINEES:
            person(s, key, Role.STUDENT, orgs[UNIVERSITY], UNIVERSITY, display)
        _seed_course(s, made, datasets[hospitals[-1].slug], now)
        return HubSeed(users=users, project_id=project.id, datasets=datasets)


def _seed_course(s: Any, made: dict[str, User], dataset_id: int, now: dt.datetime) -> None:
    """The university's course "Medical AI 101" (instructor, a TA, six students) on the
    last hospital's dataset (flagged for teaching by its custodian; asked for and approved like
    any access), a quiz lab, a prediction
    challenge, and the programme's targets for the year (program officer)."""
    teacher = _principal(made["instructor"])
    students = [_email("student"), *(_email(k) for k, _ in TRAINEES)]
    course = courses.seed_course(s, instructor=teacher, student_emails=students,
                                 dataset_ids=[dataset_id], term=f"{now.year}-2",
                                 year=now.year)  # fmt: skip
    courses.enrol(s, teacher, course.id, email=_email("ta"), role=CourseRole.TA.value)
    req = s.execute(select(AccessRequest).where(AccessRequest.project_id == course.project_id)
                    ).scalar_one()  # fmt: skip
    review.decide(s, _principal(made["reviewer"]), req.id, ReviewCreate(
        decision=Decision.APPROVE, conditions="Teaching only; aggregate results only.",
        expires_at=now + dt.timedelta(days=180),
    ))  # fmt: skip
    courses.add_lab(s, teacher, course.id, title="Read a model card", kind="model_card",
                    check=QUIZ, instructions="Open a model card and answer two questions.")  # fmt: skip
    challenges.create(s, teacher, challenges.ChallengeCreate(
        course_id=course.id, title="Predict CKD in hypertension", mode="model",
        task=CHALLENGE_TASK, dataset_ids=[dataset_id], opens_at=now,
        closes_at=now + dt.timedelta(days=60),
        description="Train a model at the hospitals; scored on a hidden split that never "
        "leaves them.",
    ))  # fmt: skip
    officer = _principal(made["officer"])
    program.set_target(s, officer, year=now.year, trainees=40)
    program.set_target(s, officer, year=now.year, trainees=20, org_id=course.org_id)


def _read(path: Path) -> HubSeed:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return HubSeed(users=list(doc["users"]), project_id=int(doc["project_id"]),
                       datasets={str(k): int(v) for k, v in doc["datasets"].items()})  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidInput(f"{path}: not the demo's logins file (use --fresh)") from None


def seed_hub(out: Path, hospitals: list[HospitalSummary]) -> tuple[HubSeed, bool]:
    """The hub database under ``OUT/hub``, seeded once; returns the logins and whether reused."""
    logins = out / LOGINS
    hub_dir = out / "hub"
    if logins.is_file():
        return _read(logins), True
    for suffix in ("", "-wal", "-shm", "-journal"):  # an incomplete earlier seed
        (hub_dir / f"hub.db{suffix}").unlink(missing_ok=True)
    db = Database(database_url(data_dir=hub_dir, url=None))
    try:
        seed = _seed(db, hospitals)
    finally:
        db.close()
    write_json(logins, seed.to_dict(), mode=0o600)
    return seed, False


def console_logins(out: Path, nodes: list[str]) -> list[dict[str, str]]:
    """One node console account per hospital, kept with the hub logins in ``logins.json`` (0600).

    Each is ``{"node", "email", "password"}``; an account missing from its node's
    ``console-users.json`` is (re)created there with the recorded password.
    """
    from medhaven.federation.console_users import add_user, users

    path = out / LOGINS
    doc = json.loads(path.read_text(encoding="utf-8"))
    known = {str(c.get("node")): c for c in doc.get("consoles", []) if isinstance(c, dict)}
    made: list[dict[str, str]] = []
    for node in nodes:
        entry = known.get(node) or {"node": node, "email": _email(f"console-{node}"),
                                    "password": secrets.token_urlsafe(12)}  # fmt: skip
        accounts = out / "nodes" / node / "console-users.json"
        if entry["email"] not in users(accounts):
            add_user(accounts, entry["email"], entry["password"])
        made.append({k: str(entry[k]) for k in ("node", "email", "password")})
    if made != doc.get("consoles"):
        write_json(path, {**doc, "consoles": made}, mode=0o600)
    return made


__all__ = ["LOGINS", "HubSeed", "console_logins", "seed_hub"]
