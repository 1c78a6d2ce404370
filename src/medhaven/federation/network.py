"""A long-lived network run ("session"): one Flower run serves many jobs through a spool folder.

One ``flwr run`` per job costs a Python CLI start, a new run and a new
ServerApp process (3-4 s on two cores) before the first message goes out.
Here the hub starts ONE run of MedHaven's Flower App with ``spool-dir`` in
its run config; its ServerApp (:mod:`.flower_app.session`) stays up and
takes jobs from the spool, one after another, keeping the node-id-to-name
map in memory. The spool, on the SuperLink's host::

    inbox/<key>.json    a job request (written aside, renamed in)
    claimed/<key>.json  the session took it (renamed from inbox/)
    outbox/<key>.json   its result document (written aside, renamed in)
    heartbeat           {"run_id", "at"}: rewritten every second by the session
    session.json        {"run_id", "started"}: the run the hub started last
    stop                the session exits when this file appears (after the job in hand)

``<key>`` is the job id, so a request is idempotent: a hub that restarts
finds the result in ``outbox/``, waits for a claimed job, or sends it again
(the nodes answer a job id they answered from their record, never twice).
:class:`NetworkDispatcher` is the hub's side: the same ``Dispatcher``
protocol as ``FlowerDispatcher``; it starts a new session when the current
one is gone (finished per ``flwr ls``, or no heartbeat for ``stale_after`` s)
and hands it the jobs the old one had not answered.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medhaven.errors import InvalidInput, TransportError

log = logging.getLogger(__name__)

INBOX, CLAIMED, OUTBOX = "inbox", "claimed", "outbox"
HEARTBEAT, SESSION, STOP = "heartbeat", "session.json", "stop"
BEAT_EVERY = 1.0
_SAFE_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")


def job_key(job_id: str) -> str:
    """The spool file name of a job: its id when that is a plain name, else its SHA-256."""
    if _SAFE_KEY.fullmatch(job_id):
        return job_id
    return hashlib.sha256(job_id.encode("utf-8")).hexdigest()


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write aside, then rename in, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(doc, out, sort_keys=True, ensure_ascii=False)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file; None when it is missing or not (yet) an object."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


@dataclass(frozen=True)
class Spool:
    """The folders and files of one session's spool."""

    root: Path

    def make(self) -> Spool:
        """Create the folders (idempotent); returns itself."""
        for name in (INBOX, CLAIMED, OUTBOX):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        return self

    def inbox(self, key: str) -> Path:
        """Where a request waits for the session."""
        return self.root / INBOX / f"{key}.json"

    def claimed(self, key: str) -> Path:
        """Where a request is while the session runs it."""
        return self.root / CLAIMED / f"{key}.json"

    def outbox(self, key: str) -> Path:
        """Where the session puts the result document."""
        return self.root / OUTBOX / f"{key}.json"

    @property
    def heartbeat(self) -> Path:
        """Rewritten every second by a live session."""
        return self.root / HEARTBEAT

    @property
    def session(self) -> Path:
        """The run the hub started last."""
        return self.root / SESSION

    @property
    def stop(self) -> Path:
        """Its appearance ends the session."""
        return self.root / STOP

    def beat(self, run_id: int) -> None:
        """Say the session of ``run_id`` is alive now."""
        write_json(self.heartbeat, {"run_id": run_id, "at": time.time()})

    def beat_age(self, run_id: int) -> float | None:
        """Seconds since the session of ``run_id`` last beat; None when it never did."""
        doc = read_json(self.heartbeat)
        if doc is None or doc.get("run_id") != run_id:
            return None
        return max(0.0, time.time() - float(doc.get("at", 0.0)))


@dataclass
class NetworkSession:
    """The hub's handle on the session run: start it, tell whether it is alive, stop it.

    ``stale_after``: a session whose heartbeat is older is taken for dead;
    ``start_wait``: how long a new run may take to beat for the first time
    (``flwr ls`` is asked every few seconds meanwhile, so a run that failed
    at start is seen at once); ``idle_limit``: the session ends itself after
    this many seconds without a job (0: never).
    """

    superlink: str
    spool_dir: Path
    root_ca: Path | None = None
    idle_limit: float = 3600.0
    stale_after: float = 10.0
    start_wait: float = 90.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_ls: float = field(default=0.0, repr=False)

    @property
    def spool(self) -> Spool:
        """The session's spool."""
        return Spool(self.spool_dir)

    def current(self) -> tuple[int, float] | None:
        """The run id the hub started last and when (epoch seconds); None: none yet."""
        doc = read_json(self.spool.session)
        if doc is None or "run_id" not in doc:
            return None
        return int(doc["run_id"]), float(doc.get("started", 0.0))

    def alive(self) -> bool:
        """Whether the current session beats, or was started lately and has not ended."""
        cur = self.current()
        if cur is None:
            return False
        run_id, started = cur
        age = self.spool.beat_age(run_id)
        if age is not None:
            return age < self.stale_after
        if time.time() - started > self.start_wait:
            return False
        if time.monotonic() >= self._next_ls:  # starting: a run that failed at start ends it
            self._next_ls = time.monotonic() + 3.0
            return not self._finished(run_id)
        return True

    def ensure(self) -> int:
        """The run id of a live session, starting one when there is none."""
        with self._lock, self._file_lock():
            cur = self.current()
            if cur is not None and self.alive():
                return cur[0]
            return self._start(None if cur is None else cur[0])

    def restart(self, dead_run: int) -> int:
        """Replace the session ``dead_run`` (unless another caller already did)."""
        with self._lock, self._file_lock():
            cur = self.current()
            if cur is not None and cur[0] != dead_run and self.alive():
                return cur[0]
            return self._start(dead_run)

    def stop(self, wait: float = 10.0) -> bool:
        """Ask the session to exit; True when its heartbeat stopped within ``wait`` seconds."""
        cur = self.current()
        self.spool.make()
        self.spool.stop.touch()
        if cur is None:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            age = self.spool.beat_age(cur[0])
            if age is None or age > 2 * BEAT_EVERY + 0.5:
                return True
            time.sleep(0.2)
        return False

    def _file_lock(self) -> _FileLock:
        self.spool.make()
        return _FileLock(self.spool_dir / ".session.lock")

    def _home(self) -> Path:
        from medhaven.federation.processes import write_connection

        home = self.spool_dir / "flwr-home"
        write_connection(home, self.superlink, root_ca=self.root_ca)
        return home

    def _finished(self, run_id: int) -> bool:
        from medhaven.federation.processes import _run_status

        try:
            return _run_status(self._home(), run_id).startswith("finished")
        except TransportError:
            return False  # the SuperLink did not answer: the heartbeat decides

    def _start(self, old_run: int | None) -> int:
        from medhaven.federation.flower_app import APP_DIR
        from medhaven.federation.processes import CONNECTION, _flwr, write_run_config

        spool = self.spool.make()
        home = self._home()
        if old_run is not None:  # a hung run would hold its ServerApp: end it (best effort)
            with contextlib.suppress(TransportError):
                _flwr(["stop", str(old_run), CONNECTION, "--format", "json"], home, 30)
        spool.stop.unlink(missing_ok=True)
        for claimed in (spool.root / CLAIMED).glob("*.json"):  # the old run's: send again
            os.replace(claimed, spool.root / INBOX / claimed.name)
        overrides = spool.root / "run-config.toml"
        write_run_config(overrides, {"spool-dir": str(spool.root.resolve()),
                                     "idle-limit": float(self.idle_limit)})  # fmt: skip
        started = _flwr(["run", str(APP_DIR), CONNECTION, "--format", "json",
                         "--run-config", str(overrides)], home, 60)  # fmt: skip
        if not started.get("success") or "run-id" not in started:
            text = str(started.get("error-message", "the SuperLink refused the run"))
            lines = [ln for ln in text.splitlines() if ln and not ln.startswith("Using SuperLink")]
            reason = lines[0][:200] if lines else "the SuperLink refused the run"
            raise TransportError(f"flwr run failed at {self.superlink}: {reason}")
        run_id = int(started["run-id"])
        write_json(spool.session, {"run_id": run_id, "started": time.time()})
        self._next_ls = time.monotonic() + 3.0
        log.info("network session: run %s started (spool %s)", run_id, spool.root)
        return run_id


class _FileLock:
    """An exclusive ``flock`` on a file, for hub processes sharing one spool."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> _FileLock:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _job_id(signed_job: str) -> str:
    from medhaven.federation.jobs import SignedJob

    return SignedJob.from_json(signed_job).spec.job_id


def round_trips(signed_job: str) -> int:
    """How many round trips a job may take, each with the per-reply timeout: one, or for a
    ``train`` job its setup, every round it may run (four trips each with secure
    aggregation) and the evaluation."""
    from medhaven.federation.jobs import SignedJob
    from medhaven.prediction.node_training import TrainParams

    spec = SignedJob.from_json(signed_job).spec
    if spec.kind != "train":
        return 1
    params = spec.parameters
    rounds = params.get("rounds", TrainParams.model_fields["rounds"].default)
    per_round = 4 if params.get("secure_aggregation") else 1
    return 2 + max(int(rounds), 1) * per_round


@dataclass
class NetworkDispatcher:
    """Runs jobs through the hub's session run (the ``Dispatcher`` protocol).

    The job goes into the spool's inbox under its job id; the call returns
    the result document when it is in the outbox. A session that is gone is
    replaced and the job handed to the new one (at most ``restarts`` times
    per job). Calling again with the same signed job (a hub restart) picks
    up where the first call was: result there, job claimed, or sent again.
    """

    superlink: str
    spool_dir: Path
    timeout: float = 60.0
    wait_nodes: float = 20.0
    root_ca: Path | None = None
    idle_limit: float = 3600.0
    stale_after: float = 10.0
    restarts: int = 2
    resumable: bool = True  # JobRunner.resume may call it again for a job left running
    session: NetworkSession = field(init=False)

    def __post_init__(self) -> None:
        self.session = NetworkSession(self.superlink, self.spool_dir, root_ca=self.root_ca,
                                      idle_limit=self.idle_limit,
                                      stale_after=self.stale_after)  # fmt: skip

    def limit(self, signed_job: str) -> float:
        """How long the hub waits for one job's result: the nodes' wait, a timeout per round
        trip and one more, and a new session's start."""
        trips = round_trips(signed_job)
        return self.wait_nodes + (trips + 1) * self.timeout + self.session.start_wait

    def __call__(
        self, signed_job: str, *, min_nodes: int, only: list[str] | None = None
    ) -> dict[str, Any]:
        """Hand one signed job to the session and wait for its result document.

        ``only``: ask just these targets (collecting held results).
        """
        if min_nodes < 1:
            raise InvalidInput("min_nodes: must be at least 1")
        key = job_key(_job_id(signed_job))
        spool = self.session.spool.make()
        request = {"signed": signed_job, "min_nodes": min_nodes, "timeout": float(self.timeout),
                   "wait_nodes": float(self.wait_nodes)}  # fmt: skip
        if only is not None:
            request["only"] = list(only)
        run_id = self.session.ensure()
        # claimed before outbox: the session writes the outbox, then removes the claim
        if not spool.claimed(key).exists() and not spool.outbox(key).exists():
            write_json(spool.inbox(key), request)
        limit = self.limit(signed_job)
        deadline = time.monotonic() + limit
        next_check = time.monotonic() + BEAT_EVERY
        restarts = 0
        while time.monotonic() < deadline:
            doc = read_json(spool.outbox(key))
            if doc is not None:
                spool.outbox(key).unlink(missing_ok=True)
                doc["run_id"] = run_id
                return doc
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + BEAT_EVERY
                if not self.session.alive():
                    if restarts >= self.restarts:
                        raise TransportError(f"the network session ended {restarts + 1} times "
                                             "while the job waited")  # fmt: skip
                    restarts += 1
                    log.warning("network session run %s is gone; starting another", run_id)
                    run_id = self.session.restart(run_id)
                    deadline = time.monotonic() + limit
                if not (spool.inbox(key).exists() or spool.claimed(key).exists()
                        or spool.outbox(key).exists()):  # fmt: skip
                    write_json(spool.inbox(key), request)
            time.sleep(0.02)
        raise TransportError(f"no result from the network session within {limit:g} s")


__all__ = [
    "NetworkDispatcher",
    "NetworkSession",
    "Spool",
    "job_key",
    "read_json",
    "round_trips",
    "write_json",
]
