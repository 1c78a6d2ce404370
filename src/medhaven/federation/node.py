"""A hospital node: its policy (``node.toml``), and how it verifies, runs and releases a job.

:func:`handle_job` is the node's trust boundary. It checks, in order, that
the job parses, that its signature is valid under the hub's public key,
that it has not expired, that this node is a target, that the node's policy
accepts the kind and that the grant has not been revoked; only then does it
touch the CDM. Disclosure control uses *this node's* minimum cell count and
rounding, whatever the hub asked for. Every job run, refused or failed is
appended to the node's own audit log. Nothing returned or logged carries a
patient value: results are released figures, reasons are one line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from medhaven.errors import ConfigError, InvalidInput, MedHavenError, NotFound
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.jobs import JobKind, JobSpec, SignedJob, canonical_json, load_public_key

log = logging.getLogger("medhaven.federation.node")

Status = Literal["ok", "refused", "error", "held"]
_URL = ("postgresql://", "postgresql+psycopg://", "postgres://")
CLOCK_SKEW = dt.timedelta(minutes=5)
HELD_REASON = "held for release approval by the node's custodian"
REPEAT_REASON = "answered before: the stored reply is sent again, nothing re-run"
NO_HELD_TRAIN = (
    "train cannot be held for release approval: it answers round by round; "
    "leave train out of accepted_kinds instead"
)


class NodeTransport(BaseModel):
    """``[transport]`` in ``node.toml``: how the SuperNode dials the hub's SuperLink.

    ``superlink_ca``: the federation CA certificate (TLS; none: insecure,
    loopback only); ``auth_key``: the node's OpenSSH ECDSA private key for
    SuperNode authentication (its public key is registered at the SuperLink).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    superlink_ca: Path | None = None
    auth_key: Path | None = None


class NodeConfig(BaseModel):
    """One node's identity, store and policy; relative paths are relative to the TOML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    cdm: str = Field(min_length=1, description="DuckDB file or postgresql:// URL")
    accepted_kinds: list[JobKind] = Field(default_factory=list)
    min_cell_count: int = Field(default=5, ge=1)
    min_train_persons: int = Field(default=100, ge=1)
    rounding: int | None = Field(default=None, ge=1)
    require_release_approval: bool | list[JobKind] = False
    hub_public_key: Path
    revoked_grants: Path | None = None
    audit_log: Path | None = None
    release_queue: Path | None = None
    answered_jobs: Path | None = None
    privacy_budget: float | None = Field(default=None, gt=0)
    synthetic_teaching: bool = False  # challenge predictions are scored only on such data
    console_users: Path | None = None
    deid_report: Path | None = None
    transport: NodeTransport = Field(default_factory=NodeTransport)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("require_release_approval", mode="after")
    @classmethod
    def _no_held_train(cls, v: bool | list[JobKind]) -> bool | list[JobKind]:
        # train answers round by round (node_training.handle_round): no single result to hold
        if isinstance(v, list) and "train" in v:
            raise ValueError(NO_HELD_TRAIN)
        return v

    def holds(self, kind: str) -> bool:
        """Whether a ``kind`` result waits for the custodian (``true``: every kind)."""
        v = self.require_release_approval
        return v if isinstance(v, bool) else kind in v

    @model_validator(mode="after")
    def _resolve(self) -> NodeConfig:
        def rel(p: Path | None) -> Path | None:
            return None if p is None or p.is_absolute() else self.base_dir / p

        updates: dict[str, Any] = {}
        for name in (
            "hub_public_key",
            "revoked_grants",
            "audit_log",
            "release_queue",
            "answered_jobs",
            "console_users",
            "deid_report",
        ):
            fixed = rel(getattr(self, name))
            if fixed is not None:
                updates[name] = fixed
        if not self.cdm.startswith(_URL) and not Path(self.cdm).is_absolute():
            updates["cdm"] = str(self.base_dir / self.cdm)
        t = self.transport
        if t.superlink_ca is not None or t.auth_key is not None:
            updates["transport"] = NodeTransport(
                superlink_ca=rel(t.superlink_ca) or t.superlink_ca,
                auth_key=rel(t.auth_key) or t.auth_key,
            )
        for k, v in updates.items():
            object.__setattr__(self, k, v)
        return self

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        """Read ``node.toml``; a missing file, bad TOML, a bad field or key is one line."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"{path}: no such node config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the node config", detail=str(exc)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        if "base_dir" in data:
            raise ConfigError(f"{path}: base_dir: not a setting")
        try:
            config = cls.model_validate({**data, "base_dir": path.resolve().parent})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise ConfigError(f"{path}: {where}: {err['msg']}") from None
        load_public_key(config.hub_public_key)  # fail now, not at the first job
        return config

    @property
    def audit_path(self) -> Path:
        """The node audit log (default ``<name>-audit.jsonl`` next to the config)."""
        return self.audit_log or self.base_dir / f"{self.name}-audit.jsonl"

    @property
    def queue_dir(self) -> Path:
        """Where held results wait for release (default ``<name>-release-queue`` next to the config)."""
        return self.release_queue or self.base_dir / f"{self.name}-release-queue"

    @property
    def console_users_path(self) -> Path:
        """The node console's accounts (default ``console-users.json`` next to the config)."""
        return self.console_users or self.base_dir / "console-users.json"

    @property
    def answered_dir(self) -> Path:
        """Replies already sent, by job id (default ``<name>-answered-jobs`` next to the config)."""
        return self.answered_jobs or self.base_dir / f"{self.name}-answered-jobs"


class Refused(Exception):
    """A job the node will not run; the message is the one-line public reason."""


def _revoked(config: NodeConfig) -> set[str]:
    path = config.revoked_grants
    if path is None or not path.exists():
        return set()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        # fail closed: a list we cannot read might name this grant
        raise Refused("the revoked-grants list cannot be read at the node") from exc
    return {ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")}


def verify_job(signed_json: str, config: NodeConfig, *, now: dt.datetime | None = None) -> JobSpec:
    """Every check before a job may run; raises :class:`Refused` with the reason."""
    try:
        job = SignedJob.from_json(signed_json)
    except MedHavenError as exc:
        raise Refused(f"not a valid signed job ({exc.message})") from None
    if not job.verify(load_public_key(config.hub_public_key)):
        raise Refused("the signature does not match the job under the hub's key")
    spec = job.spec
    at = now or dt.datetime.now(dt.UTC)
    if spec.expires_at <= at:
        raise Refused("the job has expired")
    if spec.issued_at > at + CLOCK_SKEW:
        raise Refused("the job is issued in the future")
    if config.name not in spec.targets:
        raise Refused(f"node {config.name} is not a target of this job")
    if spec.kind not in config.accepted_kinds:
        raise Refused(f"this node does not accept {spec.kind} jobs")
    # A job under several grants (one per dataset, as the hub issues them) names them all,
    # comma-separated; any one revoked refuses the job.
    grants = {g.strip() for g in spec.grant_id.split(",") if g.strip()} | {spec.grant_id}
    if grants & _revoked(config):
        raise Refused("the grant has been revoked")
    return spec


def _claimed(signed_json: str) -> dict[str, Any]:
    """Ids an unverified job claims, for the audit line only (strings, truncated)."""
    try:
        spec = json.loads(signed_json).get("spec", {})
    except (ValueError, AttributeError):
        return {}
    if not isinstance(spec, dict):
        return {}
    out: dict[str, Any] = {}
    for key in ("job_id", "kind", "project", "grant_id"):
        v = spec.get(key)
        if isinstance(v, str):
            out[key] = v[:200]
    return out


def _reply(config: NodeConfig, job_id: str | None, status: Status, reason: str | None,
           result: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    return {"node": config.name, "job_id": job_id, "status": status, "reason": reason,
            "result": result}  # fmt: skip


def _job_file(directory: Path, job_id: str) -> Path:
    safe = job_id if re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}", job_id) else None
    stem = safe or hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:32]
    return directory / f"{stem}.json"


def _queue_file(config: NodeConfig, job_id: str) -> Path:
    return _job_file(config.queue_dir, job_id)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write-aside-then-rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _digest(spec: JobSpec) -> str:
    return hashlib.sha256(canonical_json(spec)).hexdigest()


def _recall(config: NodeConfig, spec: JobSpec) -> dict[str, Any] | None:
    """The reply already sent for this job id; a different job under a used id is refused."""
    path = _job_file(config.answered_dir, spec.job_id)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("digest") != _digest(spec):
        raise Refused("this job id was already used for a different job")
    reply: dict[str, Any] = doc["reply"]
    if reply.get("node") != config.name:  # another node's record: never answer for it
        raise Refused("this job id was already used for a different job")
    return reply


def _remember(config: NodeConfig, spec: JobSpec, reply: dict[str, Any]) -> None:
    try:
        _write_json(_job_file(config.answered_dir, spec.job_id),
                    {"digest": _digest(spec), "reply": reply})  # fmt: skip
    except OSError as exc:
        # the reply still goes out; a resend would run the job again
        log.warning("job %s: cannot record the reply at the node (%s)", spec.job_id, exc)


def _hold(config: NodeConfig, spec: JobSpec, result: dict[str, Any]) -> None:
    path = _queue_file(config, spec.job_id)
    doc = {"job_id": spec.job_id, "kind": spec.kind, "project": spec.project,
           "grant_id": spec.grant_id, "held_at": dt.datetime.now(dt.UTC).isoformat(),
           "result": result}  # fmt: skip
    try:
        _write_json(path, doc)
    except OSError as exc:
        raise ConfigError("the node's release queue cannot be written", detail=str(exc)) from exc


def held_jobs(config: NodeConfig) -> list[dict[str, Any]]:
    """Results waiting in the node's release queue (for the custodian to look at)."""
    if not config.queue_dir.is_dir():
        return []
    out = []
    for path in sorted(config.queue_dir.glob("*.json")):
        out.append(json.loads(path.read_text(encoding="utf-8")))
    return out


def _claim(config: NodeConfig, job_id: str) -> tuple[Path, dict[str, Any]]:
    """Take a held result out of the queue (a rename, so two custodians cannot both act)."""
    path = _queue_file(config, job_id)
    claimed = path.with_name(f".{path.name}.claimed")
    try:
        os.rename(path, claimed)
    except FileNotFoundError:
        raise NotFound(f"no held result for job {job_id} at node {config.name}") from None
    return claimed, json.loads(claimed.read_text(encoding="utf-8"))


def _settle(config: NodeConfig, job_id: str, reply: dict[str, Any]) -> None:
    answered = _job_file(config.answered_dir, job_id)
    if answered.is_file():  # a resend of the job now gets this reply
        record = json.loads(answered.read_text(encoding="utf-8"))
        _write_json(answered, {**record, "reply": reply})


def release_held(job_id: str, config: NodeConfig, *, actor: str | None = None) -> dict[str, Any]:
    """The custodian releases a held result: it leaves the queue, is audited, and is returned."""
    claimed, doc = _claim(config, job_id)
    try:
        NodeAuditLog(config.audit_path).append(
            {**{k: doc.get(k) for k in ("job_id", "kind", "project", "grant_id")},
             "outcome": "released", "reason": "released by the node's custodian",
             "actor": actor})  # fmt: skip
        reply = _reply(config, job_id, "ok", None, doc["result"])
        _settle(config, job_id, reply)
    except BaseException:
        os.rename(claimed, _queue_file(config, job_id))  # still held
        raise
    claimed.unlink()
    return reply


def check_reason(reason: str) -> str:
    """A custodian's reason: one line, 1 to 500 characters."""
    text = reason.strip()
    if not text or "\n" in text or "\r" in text or len(text) > 500:
        raise InvalidInput("reason: give one line of 1 to 500 characters")
    return text


def reject_held(job_id: str, config: NodeConfig, reason: str, *,
                actor: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The custodian withholds a held result: it is deleted, audited, and a resend is refused."""
    why = check_reason(reason)
    claimed, doc = _claim(config, job_id)
    reply = _reply(config, job_id, "refused", f"withheld by the node's custodian: {why}", None)
    try:
        NodeAuditLog(config.audit_path).append(
            {**{k: doc.get(k) for k in ("job_id", "kind", "project", "grant_id")},
             "outcome": "withheld", "reason": why, "actor": actor})  # fmt: skip
        _settle(config, job_id, reply)
    except BaseException:
        os.rename(claimed, _queue_file(config, job_id))
        raise
    claimed.unlink()
    return reply


def handle_job(signed_json: str, config: NodeConfig) -> dict[str, Any]:
    """Verify, run under this node's disclosure control, audit, and answer one signed job.

    Returns ``{"node", "job_id", "status", "reason", "result"}``: status
    ``ok`` (result released), ``held`` (result waits for the custodian),
    ``refused`` (a check failed; nothing ran) or ``error`` (it could not run).
    The same signed job delivered again (a retry) gets the reply it got the
    first time without running again; another job under a used id is refused.
    """
    from medhaven.federation.kinds import run_kind

    audit = NodeAuditLog(config.audit_path)
    try:
        spec = verify_job(signed_json, config)
    except Refused as exc:
        claimed = _claimed(signed_json)
        audit.append({**claimed, "outcome": "refused", "reason": str(exc)})
        return _reply(config, claimed.get("job_id"), "refused", str(exc), None)
    except MedHavenError as exc:  # the node cannot check (e.g. its hub key went missing)
        claimed = _claimed(signed_json)
        audit.append({**claimed, "outcome": "error", "reason": exc.message})
        return _reply(config, claimed.get("job_id"), "error", exc.message, None)
    ids = {"job_id": spec.job_id, "kind": spec.kind, "project": spec.project,
           "grant_id": spec.grant_id}  # fmt: skip
    try:
        before = _recall(config, spec)
    except Refused as exc:
        audit.append({**ids, "outcome": "refused", "reason": str(exc)})
        return _reply(config, spec.job_id, "refused", str(exc), None)
    if before is not None:
        audit.append({**ids, "outcome": "repeated", "reason": REPEAT_REASON})
        return before
    try:
        result = run_kind(spec, config)
        if config.holds(spec.kind):
            _hold(config, spec, result)
    except MedHavenError as exc:
        log.debug("job %s failed: %s (%s)", spec.job_id, exc.code, exc.detail)
        audit.append({**ids, "outcome": "error", "reason": exc.message})
        return _reply(config, spec.job_id, "error", exc.message, None)
    except Exception:
        log.exception("job %s failed at node %s", spec.job_id, config.name)
        reason = "internal error at the node (see the node's log)"
        audit.append({**ids, "outcome": "error", "reason": reason})
        return _reply(config, spec.job_id, "error", reason, None)
    if config.holds(spec.kind):
        reply = _reply(config, spec.job_id, "held", HELD_REASON, None)
    else:
        reply = _reply(config, spec.job_id, "ok", None, result)
    _remember(config, spec, reply)
    audit.append({**ids, "outcome": reply["status"], "reason": reply["reason"]})
    return reply


__all__ = [
    "HELD_REASON",
    "NodeConfig",
    "NodeTransport",
    "Refused",
    "check_reason",
    "handle_job",
    "held_jobs",
    "reject_held",
    "release_held",
    "verify_job",
]
