"""Federated jobs at the hub: submit (governance checks, signing), dispatch, status, result.

A job names a project, a kind, its parameters and the datasets to run on.
The hub checks the caller is a member of the project and that each dataset is
covered by an active grant of the project (:func:`.access.active_grant`),
builds a :class:`~medhaven.federation.jobs.JobSpec` that expires, signs it with
the hub's Ed25519 key (created on first use, mode 0600, in the hub's data
directory) and stores it ``queued``. A :class:`Dispatcher` then runs it; the
grants are checked again just before dispatch (a grant revoked or expired
meanwhile makes the job ``refused``). The hub stores only what the nodes
released (already disclosure-controlled) and its combination; never a
row-level value. Every submit, refusal, dispatch and result is audited.

The target node of a dataset is the node named like the dataset
(``Dataset.name``): custodians publish a dataset under their node's name.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from medhaven.errors import ConfigError, Conflict, Forbidden, InvalidInput, MedHavenError, NotFound
from medhaven.federation.combine import combine, combine_counts
from medhaven.federation.jobs import (
    JOB_KINDS,
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    JobSpec,
    generate_hub_keypair,
    key_id_of,
    load_private_key,
    sign_job,
)
from medhaven.hub import audit
from medhaven.hub.db import Database
from medhaven.hub.models import Dataset, Job, JobStatus, Project, ProjectMember, Role
from medhaven.hub.services.access import active_grant
from medhaven.hub.services.common import Principal, now_utc
from medhaven.hub.services.projects import get_visible, is_member

if TYPE_CHECKING:
    from medhaven.federation.node import NodeConfig

log = logging.getLogger(__name__)

DEFAULT_TTL = dt.timedelta(hours=1)
MAX_TTL = dt.timedelta(days=7)
WITH_RESULT = frozenset({JobStatus.COMPLETED.value, JobStatus.PARTIAL.value})
#: statuses a job with nodes still holding their result can have: collect may change them
COLLECTABLE = frozenset({JobStatus.PARTIAL.value, JobStatus.HELD.value})
NO_DISPATCHER = (
    "no SuperLink is configured at the hub (MEDHAVEN_HUB_SUPERLINK); the job waits queued"
)
_KEY_LOCK = threading.Lock()
_COLLECTING: set[int] = set()  # jobs whose held nodes are being asked again (this process)
_COLLECTING_LOCK = threading.Lock()
LOST_RUN = "the hub restarted while the job ran; its result was lost (submit it again)"
EXPIRED_RUN = "the hub restarted while the job ran and the job expired before it could be resumed"


@dataclass(frozen=True)
class JobRequest:
    """What a researcher asks for."""

    project_id: int
    kind: str
    parameters: dict[str, Any]
    dataset_ids: list[int]
    min_nodes: int = 1
    ttl: dt.timedelta = DEFAULT_TTL


class Dispatcher(Protocol):
    """Runs one signed job on its target nodes; returns the result document.

    The document has the shape of the Flower ServerApp's
    (:func:`medhaven.federation.flower_app.dispatch.dispatch`): ``status``
    (``completed``, ``partial`` or ``failed``), ``reason``, ``nodes`` (one
    ``handle_job`` reply per target, or per ``only`` node) and ``combined``.
    """

    def __call__(
        self, signed_job: str, *, min_nodes: int, only: list[str] | None = None
    ) -> dict[str, Any]:
        """``only``: ask just these targets (collecting held results); None: every target."""
        ...


def hub_signing_key(keys_dir: Path) -> tuple[Ed25519PrivateKey, str]:
    """The hub's private key and its id; a key pair is generated (0600) on first use."""
    with _KEY_LOCK:
        private = keys_dir / PRIVATE_KEY_FILE
        if not private.exists() and not (keys_dir / PUBLIC_KEY_FILE).exists():
            generate_hub_keypair(keys_dir)
        key = load_private_key(private)
    return key, key_id_of(key.public_key())


def hub_public_key_path(keys_dir: Path) -> Path:
    """Where the hub's public key is (what nodes are given as ``hub_public_key``)."""
    return keys_dir / PUBLIC_KEY_FILE


def _may_see(project: Project, principal: Principal) -> bool:
    return is_member(project, principal.user_id) or principal.roles.has(Role.ADMIN)


def _validate(req: JobRequest) -> list[int]:
    if req.kind not in JOB_KINDS:
        raise InvalidInput(f"kind: must be one of {', '.join(JOB_KINDS)}")
    if req.kind in ("train", "evaluate"):  # a bad training spec fails here, not at the nodes
        from medhaven.prediction.node_training import check_parameters

        check_parameters(req.kind, req.parameters)
    if req.kind == "challenge":
        from medhaven.prediction.challenge import check_parameters as check_challenge

        check_challenge(req.parameters)
    ids = sorted(set(req.dataset_ids))
    if not ids:
        raise InvalidInput("dataset_ids: at least one dataset is needed")
    if not 1 <= req.min_nodes <= len(ids):
        raise InvalidInput("min_nodes: must be between 1 and the number of datasets")
    if not dt.timedelta(minutes=1) <= req.ttl <= MAX_TTL:
        raise InvalidInput("ttl: must be between one minute and seven days")
    return ids


def _check(
    session: Session, principal: Principal, req: JobRequest
) -> tuple[Project, list[Dataset], list[int]]:
    ids = _validate(req)
    project = get_visible(session, principal, req.project_id)
    if not is_member(project, principal.user_id):
        raise Forbidden("only project members may submit jobs")
    datasets = list(session.execute(select(Dataset).where(Dataset.id.in_(ids))).scalars())
    missing = sorted(set(ids) - {d.id for d in datasets})
    if missing:
        raise NotFound(f"dataset {missing[0]} not found")
    grants: list[int] = []
    for d in sorted(datasets, key=lambda d: d.id):
        grant = active_grant(session, project_id=project.id, dataset_id=d.id)
        if grant is None:
            raise Forbidden(f"dataset {d.id} is not covered by an active grant of the project")
        grants.append(grant.id)
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise Conflict("two datasets of the job are served by the same node")
    return project, sorted(datasets, key=lambda d: d.id), grants


def _audit_refusal(db: Database, principal: Principal, req: JobRequest, exc: MedHavenError) -> None:
    with db.unit() as session:
        audit.record(
            session,
            actor=principal.actor,
            action="job.refuse",
            object_type="project",
            object_id=req.project_id,
            details={"reason": exc.message, "kind": str(req.kind)[:32]},
        )


def submit(
    db: Database,
    principal: Principal,
    req: JobRequest,
    *,
    keys_dir: Path,
    queued_reason: str | None = None,
) -> Job:
    """Check, sign and store a job ``queued``; a refusal is audited, then raised."""
    try:
        with db.unit() as session:
            project, datasets, grants = _check(session, principal, req)
            key, key_id = hub_signing_key(keys_dir)
            now = now_utc()
            uid = uuid.uuid4().hex
            spec = JobSpec(
                job_id=uid,
                project=str(project.id),
                grant_id=",".join(str(g) for g in grants),
                kind=req.kind,  # type: ignore[arg-type]  # checked against JOB_KINDS
                parameters=req.parameters,
                targets=[d.name for d in datasets],
                expires_at=now + req.ttl,
                issued_at=now,
            )
            signed = sign_job(spec, key, key_id)
            job = Job(
                uid=uid,
                project_id=project.id,
                grant_ids=grants,
                kind=req.kind,
                parameters=req.parameters,
                dataset_ids=[d.id for d in datasets],
                targets=list(spec.targets),
                min_nodes=req.min_nodes,
                status=JobStatus.QUEUED.value,
                reason=queued_reason,
                node_status={n: {"status": "queued", "reason": None} for n in spec.targets},
                result=None,
                signed_job=signed.to_json(),
                expires_at=spec.expires_at,
                submitted_by=principal.user_id,
                created_at=now,
                updated_at=now,
            )
            session.add(job)
            session.flush()
            audit.record(
                session,
                actor=principal.actor,
                action="job.submit",
                object_type="job",
                object_id=job.id,
                details={"kind": job.kind, "grants": grants, "targets": job.targets},
            )
            return job
    except (Forbidden, NotFound, Conflict, InvalidInput) as exc:
        _audit_refusal(db, principal, req, exc)
        raise


def get_job(session: Session, principal: Principal, job_id: int) -> Job:
    """A job of a project the caller is a member of (admins see every job)."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    try:
        project = get_visible(session, principal, job.project_id)
    except NotFound:
        raise NotFound(f"job {job_id} not found") from None
    if not _may_see(project, principal):
        raise NotFound(f"job {job_id} not found")
    return job


def list_jobs_query(
    principal: Principal, *, project_id: int | None = None, status: str | None = None
) -> Select[Any]:
    """Jobs of the projects the caller is a member of (admins: all), newest first."""
    stmt = select(Job)
    if not principal.roles.has(Role.ADMIN):
        mine = select(ProjectMember.project_id).where(ProjectMember.user_id == principal.user_id)
        stmt = stmt.where(Job.project_id.in_(mine))
    if project_id is not None:
        stmt = stmt.where(Job.project_id == project_id)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    return stmt.order_by(Job.id.desc())


def get_result(session: Session, principal: Principal, job_id: int) -> dict[str, Any]:
    """The combined, released result of a completed or partial job."""
    job = get_job(session, principal, job_id)
    if job.status not in WITH_RESULT or job.result is None:
        raise Conflict(f"job {job_id} has no result (status {job.status})")
    if job.kind == "challenge":  # its private scores stay hidden until the challenge closes
        from medhaven.hub.services.challenges import redact_result

        return redact_result(session, job, job.result)
    return job.result


def _lock(session: Session, job_id: int) -> Job:
    job = session.execute(
        select(Job)
        .where(Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def _finish(session: Session, job: Job, status: JobStatus, reason: str | None, actor: str) -> None:
    job.status = status.value
    job.reason = reason
    job.updated_at = now_utc()
    if status is JobStatus.REFUSED:
        job.node_status = {n: {"status": "not_sent", "reason": None} for n in job.targets}
    else:  # the run failed or was lost: what each node did is not known at the hub
        job.node_status = {n: {"status": "unknown", "reason": None} for n in job.targets}
    audit.record(
        session,
        actor=actor,
        action="job.refuse" if status is JobStatus.REFUSED else "job.result",
        object_type="job",
        object_id=job.id,
        details={"status": status.value, "reason": reason},
    )


def start(db: Database, job_id: int, *, actor: str = "system:dispatcher") -> tuple[str, int] | None:
    """Move a queued job to ``running`` after checking its grants again.

    Returns the signed job and its ``min_nodes``, or None when it is not to run.

    A grant revoked or expired since submission makes the job ``refused``
    (audited); so does a spec that expired while queued.
    """
    with db.unit() as session:
        job = _lock(session, job_id)
        if job.status != JobStatus.QUEUED.value:
            return None
        now = now_utc()
        if job.expires_at <= now:
            _finish(
                session, job, JobStatus.REFUSED, "the job expired before it was dispatched", actor
            )
            return None
        for dataset_id, grant_id in zip(job.dataset_ids, job.grant_ids, strict=True):
            grant = active_grant(session, project_id=job.project_id, dataset_id=dataset_id, at=now)
            if grant is None or grant.id != grant_id:
                reason = f"grant {grant_id} is no longer active (revoked or expired)"
                _finish(session, job, JobStatus.REFUSED, reason, actor)
                return None
        job.status = JobStatus.RUNNING.value
        job.reason = None
        job.updated_at = now
        job.node_status = {n: {"status": "running", "reason": None} for n in job.targets}
        audit.record(
            session, actor=actor, action="job.dispatch", object_type="job", object_id=job.id
        )
        return job.signed_job, job.min_nodes


def _released(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What the hub keeps: the combination and each node's released result; never more.

    The combination is recomputed here from the nodes' released results (a
    dispatcher's own ``combined`` is not trusted for characterize/incidence).
    """
    kind = doc.get("kind")
    replies = [r for r in doc.get("nodes", []) if isinstance(r, dict)]
    if kind == "cohort_count":
        combined = doc.get("combined")
        kept = dict(combined) if isinstance(combined, dict) else combine_counts(replies)
        kept["node_results"] = {  # each node's released attrition, for the result page
            str(r.get("node")): r.get("result") for r in replies if r.get("status") == "ok"
        }
        return kept
    if kind == "train":  # the model is made by the hub's own ServerApp from the nodes' rounds
        from medhaven.prediction.node_training import released_training

        return released_training(doc, replies)
    return {
        "kind": kind,
        "nodes": {str(r.get("node")): r.get("result") for r in replies if r.get("status") == "ok"},
        "combined": combine(str(kind), replies),
    }


def _held_status(nodes: Mapping[str, Mapping[str, Any]], min_nodes: int) -> tuple[str, str | None]:
    """A job's status and reason when some nodes hold their result for their custodian.

    ``partial`` while at least ``min_nodes`` released (the held ones add later),
    ``held`` while fewer did, ``completed`` once every node released.
    """
    ok = sum(1 for v in nodes.values() if v.get("status") == "ok")
    held = sum(1 for v in nodes.values() if v.get("status") == "held")
    total = len(nodes)
    if ok == total:
        return JobStatus.COMPLETED.value, None
    if not held:
        if ok >= min_nodes:
            return JobStatus.PARTIAL.value, None
        return (
            JobStatus.FAILED.value,
            f"{ok} of {total} nodes answered ok; at least {min_nodes} needed",
        )
    waiting = f"{held} of {total} nodes hold their result for their custodian's release"
    if ok >= min_nodes:
        return JobStatus.PARTIAL.value, waiting
    return JobStatus.HELD.value, f"{waiting}; {ok} released, at least {min_nodes} needed"


def held_nodes(job: Job) -> list[str]:
    """The targets whose custodian still holds the job's result."""
    return [n for n in job.targets if (job.node_status or {}).get(n, {}).get("status") == "held"]


def _stored_replies(job: Job) -> list[dict[str, Any]]:
    """Each target's reply as the hub has it: released results from ``job.result``, else status."""
    result = job.result or {}
    by_node = result.get("node_results") if job.kind == "cohort_count" else result.get("nodes")
    released = by_node if isinstance(by_node, dict) else {}
    out = []
    for n in job.targets:
        st = (job.node_status or {}).get(n, {})
        status = str(st.get("status"))
        out.append({"node": n, "job_id": job.uid, "status": status, "reason": st.get("reason"),
                    "result": released.get(n) if status == "ok" else None})  # fmt: skip
    return out


def _expires(job: Job) -> dt.datetime:
    at = job.expires_at
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at  # SQLite: naive UTC


def collect(
    db: Database,
    job_id: int,
    dispatcher: Dispatcher,
    *,
    actor: str = "system:collector",
    principal: Principal | None = None,
) -> Job:
    """Ask the nodes that held a job's result again, with the same signed job; store what changed.

    Each node answers from its record of the job (still ``held``, the
    released ``ok`` result, or ``refused`` after its custodian rejected it);
    nothing re-runs. The result is recombined from every released reply and
    the job's status recomputed (:func:`_held_status`); audited ``job.collected``.
    With ``principal``, only a member of the job's project may collect.
    A job with no held node or past its expiry is a :class:`Conflict`.
    """
    with db.unit(readonly=True) as session:
        if principal is not None:
            job = get_job(session, principal, job_id)
            project = session.get(Project, job.project_id)
            if project is None or not is_member(project, principal.user_id):
                raise Forbidden("only project members may collect a job's results")
        else:
            found = session.get(Job, job_id)
            if found is None:
                raise NotFound(f"job {job_id} not found")
            job = found
        asked, signed = held_nodes(job), job.signed_job
        if job.status not in COLLECTABLE or not asked:
            raise Conflict(f"job {job_id} is {job.status} with no node holding its result")
        if _expires(job) <= now_utc():
            raise Conflict(f"job {job_id} has expired: its nodes no longer answer it")
    with _COLLECTING_LOCK:  # one re-ask of a job at a time (the button and the background)
        if job_id in _COLLECTING:
            raise Conflict(f"job {job_id}: its nodes are being asked already; reload in a moment")
        _COLLECTING.add(job_id)
    try:
        doc = dispatcher(signed, min_nodes=1, only=asked)
    finally:
        with _COLLECTING_LOCK:
            _COLLECTING.discard(job_id)
    with db.unit() as session:
        job = _lock(session, job_id)
        if job.status not in COLLECTABLE:  # cancelled or collected meanwhile
            return job
        replies = {r["node"]: r for r in _stored_replies(job)}
        changed: dict[str, str] = {}
        for reply in doc.get("nodes", []):
            name = reply.get("node") if isinstance(reply, dict) else None
            if name in asked and replies.get(name, {}).get("status") == "held":
                status = str(reply.get("status"))
                if status in ("ok", "refused", "error"):  # a node's own answer; else still held
                    replies[name] = {**reply, "status": status}
                    changed[str(name)] = status
        if changed:
            nodes = {n: {"status": r["status"], "reason": r.get("reason")}
                     for n, r in replies.items()}  # fmt: skip
            status, reason = _held_status(nodes, job.min_nodes)
            job.node_status = nodes
            job.status = status
            job.reason = reason[:500] if reason else None
            full = {"kind": job.kind, "nodes": list(replies.values())}
            job.result = _released(full) if status in WITH_RESULT | {JobStatus.HELD.value} else None
            job.updated_at = now_utc()
        audit.record(session, actor=actor, action="job.collected", object_type="job",
                     object_id=job.id,
                     details={"asked": asked, "changed": changed, "status": job.status})  # fmt: skip
        return job


def collect_due(db: Database, dispatcher: Dispatcher) -> int:
    """Collect every job with held nodes that has not expired (the background re-ask)."""
    with db.unit(readonly=True) as session:
        rows = session.execute(
            select(Job).where(Job.status.in_(COLLECTABLE)).order_by(Job.id)
        ).scalars()
        due = [j.id for j in rows if held_nodes(j) and _expires(j) > now_utc()]
    done = 0
    for job_id in due:
        try:
            collect(db, job_id, dispatcher)
            done += 1
        except MedHavenError as exc:
            log.info("collect job %s: %s", job_id, exc.message)
        except Exception:
            log.exception("collect job %s failed", job_id)
    return done


def record_result(
    db: Database, job_id: int, doc: Mapping[str, Any], *, actor: str = "system:dispatcher"
) -> Job:
    """Store a dispatcher's result document: status, each node's status, the released result."""
    status = str(doc.get("status"))
    if status not in (JobStatus.COMPLETED.value, JobStatus.PARTIAL.value, JobStatus.FAILED.value):
        status = JobStatus.FAILED.value
    with db.unit() as session:
        job = _lock(session, job_id)
        if job.status == JobStatus.CANCELLED.value:  # cancelled while it ran: nothing is kept
            audit.record(session, actor=actor, action="job.result_discarded",
                         object_type="job", object_id=job.id,
                         details={"status": status, "reason": "the job was cancelled"})  # fmt: skip
            return job
        nodes: dict[str, Any] = {n: {"status": "failed", "reason": "no reply"} for n in job.targets}
        for reply in doc.get("nodes", []):
            if isinstance(reply, dict) and reply.get("node") in nodes:
                nodes[str(reply["node"])] = {
                    "status": str(reply.get("status")),
                    "reason": reply.get("reason"),
                }
        job.node_status = nodes
        reason = doc.get("reason")
        if any(v["status"] == "held" for v in nodes.values()):
            status, reason = _held_status(nodes, job.min_nodes)
        job.status = status
        job.reason = str(reason)[:500] if reason else None
        # a held job keeps what was released so far (shown once it is partial or completed)
        keep = WITH_RESULT | {JobStatus.HELD.value}
        job.result = _released(doc) if status in keep else None
        job.updated_at = now_utc()
        audit.record(
            session,
            actor=actor,
            action="job.result",
            object_type="job",
            object_id=job.id,
            details={
                "status": status,
                "nodes": {n: v["status"] for n, v in nodes.items()},
            },
        )
        return job


def cancel(db: Database, principal: Principal, job_id: int) -> Job:
    """Cancel a queued or running job (project members only); audited.

    A queued job is never dispatched. A running one is marked cancelled at
    once; the nodes may still answer it, but its late result is discarded
    (audited as ``job.result_discarded``), never stored. A finished job is a
    :class:`Conflict`.
    """
    with db.unit() as session:
        job = get_job(session, principal, job_id)  # NotFound for those who may not see it
        project = session.get(Project, job.project_id)
        if project is None or not is_member(project, principal.user_id):
            raise Forbidden("only project members may cancel jobs")
        job = _lock(session, job_id)
        if job.status not in (JobStatus.QUEUED.value, JobStatus.RUNNING.value):
            raise Conflict(f"job {job_id} is {job.status}: only a queued or running job can be "
                           "cancelled")  # fmt: skip
        was = job.status
        job.status = JobStatus.CANCELLED.value
        job.reason = f"cancelled by {principal.actor}"[:500]
        job.updated_at = now_utc()
        if was == JobStatus.QUEUED.value:
            job.node_status = {n: {"status": "not_sent", "reason": None} for n in job.targets}
        else:
            why = "cancelled while running: a late reply is discarded"
            job.node_status = {n: {"status": "cancelled", "reason": why} for n in job.targets}
        audit.record(session, actor=principal.actor, action="job.cancel", object_type="job",
                     object_id=job.id, details={"was": was})  # fmt: skip
        return job


def fail(db: Database, job_id: int, reason: str, *, actor: str = "system:dispatcher") -> None:
    """Mark a running job failed (the dispatcher could not run it)."""
    with db.unit() as session:
        job = _lock(session, job_id)
        if job.status == JobStatus.RUNNING.value:
            _finish(session, job, JobStatus.FAILED, reason[:500], actor)


def run(db: Database, job_id: int, dispatcher: Dispatcher) -> None:
    """Start, dispatch and record one job; every outcome ends in a stored status."""
    started = start(db, job_id)
    if started is None:
        return
    signed, min_nodes = started
    _dispatch(db, job_id, dispatcher, signed, min_nodes)


def resume_run(db: Database, job_id: int, dispatcher: Dispatcher) -> None:
    """Take up a job left ``running`` by a hub that stopped: the same signed job, again.

    A resumable dispatcher (the network session's) returns the result the
    session already has, waits for the job still in flight, or sends it
    again (nodes answer a job id they answered from their record). A job
    that expired meanwhile ends ``failed`` (:data:`EXPIRED_RUN`).
    """
    with db.unit(readonly=True) as session:
        job = session.get(Job, job_id)
        if job is None or job.status != JobStatus.RUNNING.value:
            return
        signed, min_nodes, expires_at = job.signed_job, job.min_nodes, job.expires_at
    if expires_at.tzinfo is None:  # SQLite hands back naive UTC
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    if expires_at <= now_utc():
        fail(db, job_id, EXPIRED_RUN, actor="system:hub-start")
        return
    _dispatch(db, job_id, dispatcher, signed, min_nodes)


def _dispatch(
    db: Database, job_id: int, dispatcher: Dispatcher, signed: str, min_nodes: int
) -> None:
    try:
        doc = dispatcher(signed, min_nodes=min_nodes)
    except MedHavenError as exc:
        log.info("job %s: %s (%s)", job_id, exc.message, exc.detail)
        fail(db, job_id, exc.message)
        return
    except Exception:
        log.exception("job %s: the dispatcher failed", job_id)
        fail(db, job_id, "internal error while dispatching (see the hub's log)")
        return
    record_result(db, job_id, doc)


@dataclass
class FlowerDispatcher:
    """Runs jobs over a Flower SuperLink (:func:`medhaven.federation.processes.submit`)."""

    superlink: str
    timeout: float = 60.0
    wait_nodes: float = 20.0
    nodes_cache: Path | None = None
    root_ca: Path | None = None  # the federation CA, when the SuperLink serves TLS

    def __call__(
        self, signed_job: str, *, min_nodes: int, only: list[str] | None = None
    ) -> dict[str, Any]:
        """Submit one run to the SuperLink and wait for its result document."""
        from medhaven.federation.processes import submit as flower_submit

        return flower_submit(
            signed_job,
            superlink=self.superlink,
            min_nodes=min_nodes,
            timeout=self.timeout,
            wait_nodes=self.wait_nodes,
            nodes_cache=self.nodes_cache,
            root_ca=self.root_ca,
            only=only,
        )


@dataclass
class JobRunner:
    """Submits jobs and dispatches them on background threads (the API returns at once).

    Without a dispatcher jobs stay ``queued`` with :data:`NO_DISPATCHER` as reason.
    ``held_poll_seconds`` (> 0): a background thread re-asks the nodes that held a
    job's result that often (:func:`collect_due`); 0: only on request.
    """

    db: Database
    keys_dir: Path
    dispatcher: Dispatcher | None = None
    background: bool = True
    held_poll_seconds: float = 0.0
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def collect(self, principal: Principal, job_id: int) -> Job:
        """Ask a job's held nodes again now (a project member's request); see :func:`collect`."""
        if self.dispatcher is None:
            raise ConfigError(NO_DISPATCHER)
        return collect(self.db, job_id, self.dispatcher, actor=principal.actor,
                       principal=principal)  # fmt: skip

    def start_collector(self) -> None:
        """Start the background re-ask of held nodes (no-op without a dispatcher or poll)."""
        dispatcher = self.dispatcher
        if dispatcher is None or self.held_poll_seconds <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(self.held_poll_seconds):
                try:
                    collect_due(self.db, dispatcher)
                except Exception:  # the loop outlives one bad pass (e.g. the database away)
                    log.exception("collecting held results failed")

        self._stop.clear()
        threading.Thread(target=loop, name="medhaven-collect-held", daemon=True).start()

    def stop_collector(self) -> None:
        """Stop the background re-ask (at shutdown)."""
        self._stop.set()

    def submit(self, principal: Principal, req: JobRequest) -> Job:
        """Check, sign and store a job, then dispatch it (in the background)."""
        reason = NO_DISPATCHER if self.dispatcher is None else None
        job = submit(self.db, principal, req, keys_dir=self.keys_dir, queued_reason=reason)
        if self.dispatcher is not None:
            self.dispatch(job.id)
        return job

    def dispatch(
        self, job_id: int, *, how: Callable[[Database, int, Dispatcher], None] = run
    ) -> None:
        """Run a queued job now (on a thread when ``background``); ``how``: :func:`run` or
        :func:`resume_run`."""
        dispatcher = self.dispatcher
        if dispatcher is None:
            raise ConfigError(NO_DISPATCHER)
        if not self.background:
            how(self.db, job_id, dispatcher)
            return
        thread = threading.Thread(
            target=how,
            args=(self.db, job_id, dispatcher),
            name=f"medhaven-job-{job_id}",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def resume(self) -> dict[str, int]:
        """After a hub (re)start: jobs left ``running`` are resumed when the dispatcher is
        ``resumable`` (:func:`resume_run`), else they end ``failed`` (:data:`LOST_RUN`);
        queued ones are dispatched when a dispatcher is configured. Returns how many of each."""
        with self.db.unit(readonly=True) as session:
            running = list(
                session.execute(
                    select(Job.id).where(Job.status == JobStatus.RUNNING.value)
                ).scalars()
            )
            queued = list(
                session.execute(
                    select(Job.id).where(Job.status == JobStatus.QUEUED.value).order_by(Job.id)
                ).scalars()
            )
        if getattr(self.dispatcher, "resumable", False):
            for job_id in running:
                self.dispatch(job_id, how=resume_run)
            resumed, running = running, []
        else:
            resumed = []
        for job_id in running:
            fail(self.db, job_id, LOST_RUN, actor="system:hub-start")
        if self.dispatcher is None:
            return {"failed": len(running), "resumed": 0, "dispatched": 0}
        for job_id in queued:
            self.dispatch(job_id)
        return {"failed": len(running), "resumed": len(resumed), "dispatched": len(queued)}

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the jobs being dispatched (tests, shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)


def in_process_dispatcher(
    handle: Callable[[str, str], dict[str, Any]],
    nodes: list[str],
    *,
    configs: Mapping[str, NodeConfig] | None = None,
) -> Dispatcher:
    """A dispatcher that hands the signed job to ``handle(signed_job, node)`` for each target.

    For a hub and nodes in one process (tests, a single site): no transport,
    the same result document as the ServerApp's. A ``train`` job runs its
    rounds on the nodes of ``configs`` (:func:`~medhaven.prediction.node_training.in_process_exchange`).
    """
    known = set(nodes)

    def dispatch(
        signed_job: str, *, min_nodes: int, only: list[str] | None = None
    ) -> dict[str, Any]:
        from medhaven.federation.jobs import SignedJob

        spec = SignedJob.from_json(signed_job).spec
        if spec.kind == "train":
            return _train_in_process(signed_job, spec.job_id, known, configs, min_nodes)
        replies: list[dict[str, Any]] = []
        for name in dict.fromkeys(spec.targets):
            if only is not None and name not in only:
                continue
            if name not in known:
                replies.append({"node": name, "job_id": spec.job_id, "status": "failed",
                                "reason": f"node {name} is not connected", "result": None})  # fmt: skip
                continue
            replies.append(handle(signed_job, name))
        ok = sum(1 for r in replies if r.get("status") == "ok")
        status = "completed" if ok == len(replies) else "partial" if ok >= min_nodes else "failed"
        return {
            "job_id": spec.job_id,
            "kind": spec.kind,
            "status": status,
            "reason": None if status != "failed" else f"{ok} of {len(replies)} nodes answered ok",
            "nodes": replies,
            "combined": combine(spec.kind, replies),
        }

    return dispatch


def _train_in_process(signed_job: str, job_id: str, known: set[str],
                      configs: Mapping[str, NodeConfig] | None,
                      min_nodes: int) -> dict[str, Any]:  # fmt: skip
    """A ``train`` job's rounds driven here, each node's ``handle_round`` called in process."""
    from medhaven.prediction.node_training import in_process_exchange, run_training

    if configs is None:
        raise ConfigError("this in-process dispatcher has no node configs: it cannot run train")
    here = {n: c for n, c in configs.items() if n in known}
    return run_training(signed_job, in_process_exchange(signed_job, here), min_nodes=min_nodes,
                        transport="in_process")  # fmt: skip


__all__ = [
    "DEFAULT_TTL",
    "EXPIRED_RUN",
    "LOST_RUN",
    "NO_DISPATCHER",
    "Dispatcher",
    "FlowerDispatcher",
    "JobRequest",
    "JobRunner",
    "cancel",
    "collect",
    "collect_due",
    "fail",
    "get_job",
    "get_result",
    "held_nodes",
    "hub_public_key_path",
    "hub_signing_key",
    "in_process_dispatcher",
    "list_jobs_query",
    "record_result",
    "resume_run",
    "run",
    "start",
    "submit",
]
