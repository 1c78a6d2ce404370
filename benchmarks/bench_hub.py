"""Hub API under load: requests per second and p50 / p99 latency with 50 concurrent clients.

A real ``medhaven hub serve`` process on a loopback port, once over SQLite and
once over PostgreSQL (when ``MEDHAVEN_TEST_POSTGRES_URL`` names a server), in
the same run, with the same seeded catalogue. Two calls are measured:

* catalogue search: ``GET /api/v1/datasets?q=cohort&domain=condition&limit=20``
  (a text + filter query, a page of results, and one audit entry per call:
  searches are data access and are written to the SHA-256 chain);
* grant status: ``GET /api/v1/grants/{id}``, the check a job makes before it
  runs (the hub has no job records yet; this is what a job-status call reads).

The baseline column is the PostgreSQL figure from the same run, so the ratio
is SQLite / PostgreSQL. Bounded: at most ``requests`` calls per measurement and
``time_limit_s`` seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.result import Result

CLIENTS = 50
MEDHAVEN = [sys.executable, "-c", "from medhaven.cli.main import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str, datasets: int) -> tuple[str, int]:
    """A catalogue of ``datasets`` entries and one granted project; returns (token, grant id)."""
    from medhaven.hub.db import Database
    from medhaven.hub.models import Decision, OrgKind, Role
    from medhaven.hub.schemas import DatasetCreate, ProjectCreate, RequestCreate, ReviewCreate
    from medhaven.hub.services import access, catalogue, identity, projects
    from medhaven.hub.services.common import SYSTEM_ACTOR, Principal

    db = Database(url)
    try:
        with db.unit() as s:
            hosp = identity.create_org(
                s, name="Hospital", kind=OrgKind.HOSPITAL, actor=SYSTEM_ACTOR
            )
            uni = identity.create_org(s, name="Uni", kind=OrgKind.UNIVERSITY, actor=SYSTEM_ACTOR)
            board = identity.create_org(
                s,
                name="Board",
                kind=OrgKind.RESEARCH_INSTITUTE,
                actor=SYSTEM_ACTOR,
                review_board=True,  # a central review board: its reviewers decide any dataset
            )
            pw = "benchmark password 1"
            cust = identity.create_user(
                s,
                email="c@x.org",
                password=pw,
                name="",
                org_id=hosp.id,
                role=Role.CUSTODIAN,
                actor=SYSTEM_ACTOR,
            )
            res = identity.create_user(
                s,
                email="r@x.org",
                password=pw,
                name="",
                org_id=uni.id,
                role=Role.RESEARCHER,
                actor=SYSTEM_ACTOR,
            )
            rev = identity.create_user(
                s,
                email="v@x.org",
                password=pw,
                name="",
                org_id=board.id,
                role=Role.REVIEWER,
                actor=SYSTEM_ACTOR,
            )
            _, token = identity.issue_token(
                s, user=res, name="bench", scopes=["read"], ttl=dt.timedelta(days=1)
            )
            pc = Principal(cust.id, identity.roles_of(cust), "cli")
            pr = Principal(res.id, identity.roles_of(res), "cli")
            pv = Principal(rev.id, identity.roles_of(rev), "cli")
            domains = [
                ["condition", "drug"],
                ["measurement"],
                ["condition", "measurement", "visit"],
            ]
            for i in range(datasets):
                catalogue.publish(
                    s,
                    pc,
                    DatasetCreate(
                        org_id=hosp.id,
                        name=f"{'Diabetes cohort' if i % 3 else 'Sepsis set'} {i}",
                        description="adults, 2015-2023",
                        domains=domains[i % 3],
                        person_count=1000 + i,  # type: ignore[arg-type]
                        characterization={"sex": {"female": 500 + i, "male": 500}},
                    ),
                    min_cell_count=5,
                )
            project = projects.create(
                s,
                pr,
                ProjectCreate(
                    title="bench",
                    purpose="bench",
                    type="academic",
                    domains=["condition"],  # type: ignore[arg-type, list-item]
                    start_date=dt.date(2026, 1, 1),
                    end_date=dt.date(2027, 1, 1),
                ),
            )
            req = access.create_request(
                s, pr, RequestCreate(project_id=project.id, dataset_ids=[1], justification="b")
            )
            access.decide(
                s,
                pv,
                req.id,
                ReviewCreate(
                    decision=Decision.APPROVE,
                    expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
                ),
            )
            grant_id = access.list_grants_query(pr).limit(1)
            gid = int(s.execute(grant_id).scalars().one().id)
    finally:
        db.close()
    return token, gid


@contextmanager
def _serve(url: str) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [*MEDHAVEN, "hub", "serve", "--database-url", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the hub did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _load(
    base: str, path: str, token: str, *, requests: int, time_limit_s: float
) -> tuple[float, float, float, int]:
    """(rps, p50 ms, p99 ms, errors) for ``requests`` calls from ``CLIENTS`` concurrent clients."""
    latencies: list[float] = []
    errors = 0
    remaining = requests
    stop_at = time.perf_counter() + time_limit_s
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60
    ) as client:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.perf_counter() < stop_at:
                remaining -= 1
                t0 = time.perf_counter()
                r = await client.get(path)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        await client.get(path)  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, q[49] * 1000, q[98] * 1000, errors


def _postgres_schema_url() -> tuple[str, str, str] | None:
    base = os.environ.get("MEDHAVEN_TEST_POSTGRES_URL")
    if not base:
        return None
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    import psycopg

    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in plain else "?"
    return (
        plain,
        schema,
        "postgresql+psycopg://"
        + plain.split("://", 1)[1]
        + f"{sep}options=-csearch_path%3D{schema}",
    )


def measure(
    url: str, *, datasets: int, requests: int, time_limit_s: float
) -> dict[str, tuple[float, float, float, int]]:
    """Seed a hub at ``url``, serve it, and load both calls."""
    token, gid = _seed(url, datasets)
    out = {}
    with _serve(url) as base:
        for name, path in [
            ("catalogue search", "/api/v1/datasets?q=cohort&domain=condition&limit=20"),
            ("grant status", f"/api/v1/grants/{gid}"),
        ]:
            out[name] = asyncio.run(
                _load(base, path, token, requests=requests, time_limit_s=time_limit_s)
            )
    return out


def run(scale: float) -> list[Result]:
    """SQLite and (if configured) PostgreSQL figures from one run."""
    datasets = max(30, int(300 * scale))
    requests = max(200, int(3000 * scale))
    limit = 60.0
    figures: dict[str, dict[str, tuple[float, float, float, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures["sqlite"] = measure(
            f"sqlite:///{Path(tmp) / 'hub.db'}",
            datasets=datasets,
            requests=requests,
            time_limit_s=limit,
        )
    pg = _postgres_schema_url()
    if pg is not None:
        plain, schema, url = pg
        try:
            figures["postgresql"] = measure(
                url, datasets=datasets, requests=requests, time_limit_s=limit
            )
        finally:
            import psycopg

            with psycopg.connect(plain, autocommit=True) as con:
                con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    results: list[Result] = []
    note = f"{CLIENTS} clients, {requests} calls, {datasets} datasets"
    for call in ("catalogue search", "grant status"):
        lite = figures["sqlite"][call]
        base = figures.get("postgresql", {}).get(call)
        for i, (what, unit) in enumerate([("rps", "req/s"), ("p50", "ms"), ("p99", "ms")]):
            results.append(
                Result(
                    name=f"hub {call} {what} (SQLite)",
                    medhaven=lite[i],
                    unit=unit,
                    baseline_name="same on PostgreSQL" if base else "-",
                    baseline=base[i] if base else None,
                    goal="",
                    note=f"{note}; errors {lite[3]}/{base[3] if base else '-'}",
                )
            )
    return results
