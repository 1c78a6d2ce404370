"""``medhaven demo`` (the whole system) and ``medhaven demo --smoke --json``: set up, run, report."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from medhaven.cli.common import console, print_json
from medhaven.cli.demo import print_report, wide_console
from medhaven.demo_data import prepare
from medhaven.demo_hub import LOGINS, HubSeed, console_logins, seed_hub
from medhaven.demo_system import DemoSystem, run_jobs, smoke_document
from medhaven.errors import CheckFailed, MedHavenError, TransportError
from medhaven.federation.processes import stop_on_sigterm

INTERRUPTED = 130


def _sections(doc: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(doc, dict):
        return {}
    return {str(s.get("name")): s for s in doc.get("sections", []) if isinstance(s, dict)}


def _rows(doc: Any) -> dict[str, str]:
    """Persons, by sex and by age group, as released in one characterization document."""
    sections = _sections(doc)
    rows: dict[str, str] = {}
    if "persons" in sections:
        rows["persons"] = str(sections["persons"].get("display"))
    for name, label in (("persons_by_sex", "sex"), ("persons_by_age_group", "age")):
        section = sections.get(name, {})
        table = section.get("table") or section  # a node's table, or a combined section
        for entry in table.get("entries", []):
            if not entry.get("margin"):
                rows[f"{label} {entry.get('label')}"] = str(entry.get("display"))
    return rows


def characterization_table(combined: Any, per_node: dict[str, Any] | None) -> Table:
    """The federated characterization: each node's released figures (and a combination if any)."""
    columns: dict[str, dict[str, str]] = {}
    for node, doc in sorted((per_node or {}).items()):
        columns[str(node)] = _rows(doc)
    if _sections(combined):
        columns["all nodes"] = _rows(combined)
    view = Table(
        title="Federated characterization (released by each node, min. cell count 5; "
        "all nodes: their sum, >= N where a node suppressed a cell)"
    )
    view.add_column("")
    for name in columns:
        view.add_column(name, justify="right")
    labels: list[str] = []
    for rows in columns.values():
        labels.extend(k for k in rows if k not in labels)
    for label in labels:
        view.add_row(label, *(rows.get(label, "-") for rows in columns.values()))
    return view


def _count_line(job: dict[str, Any]) -> str:
    combined = job.get("combined") or {}
    persons = combined.get("persons", {}) if isinstance(combined, dict) else {}
    per_node = ", ".join(
        f"{n.get('node')} {n.get('persons') if n.get('persons') is not None else n.get('status')}"
        for n in (combined.get("nodes", []) if isinstance(combined, dict) else [])
    )
    cohort = job["parameters"].get("definition")
    return (f"federated cohort count ({cohort}): [bold]{persons.get('display', '-')}[/] persons "
            f"over all nodes ({per_node}); job {job.get('id')} {job['status']} "
            f"in {job['seconds']:.0f} s")  # fmt: skip


def _print_results(jobs: list[dict[str, Any]]) -> None:
    out = wide_console()
    for job in jobs:
        if job["status"] != "completed":
            reason = f": {job['reason']}" if job.get("reason") else ""
            out.print(f"[red]federated {job['kind']}: {job['status']}{reason}[/]")
            for node, st in sorted((job.get("nodes") or {}).items()):
                out.print(f"  {node}: {st.get('status')} {st.get('reason') or ''}")
        elif job["kind"] == "cohort_count":
            out.print(_count_line(job))
        else:
            out.print(characterization_table(job.get("combined"), job.get("per_node")))
            out.print(f"federated characterization: job {job.get('id')} completed in "
                      f"{job['seconds']:.0f} s")  # fmt: skip


def _print_logins(url: str, seed: HubSeed, out: Path, *, to: Console,
                  consoles: list[dict[str, str]], urls: dict[str, str]) -> None:  # fmt: skip
    view = Table(title=f"MedHaven: open {url} to sign in (API {url}/api/v1, docs {url}/docs)")
    for name in ("role", "organisation", "email", "password"):
        view.add_column(name)
    for user in seed.users:
        view.add_row(user["role"], user["org"], user["email"], user["password"])
    to.print(view)
    nodes = Table(title="Node consoles (at each hospital: the custodian's release queue)")
    for name in ("node", "console", "email", "password"):
        nodes.add_column(name)
    for c in consoles:
        nodes.add_row(c["node"], urls.get(c["node"], "-"), c["email"], c["password"])
    to.print(nodes)
    console.print(f"logins: {out / LOGINS} (mode 0600); project {seed.project_id} holds an "
                  "active grant on every dataset. Ctrl-C stops every process.")  # fmt: skip


def _serve(system: DemoSystem) -> None:
    """Wait until Ctrl-C; a process that ends on its own stops the demo with one line."""
    while True:
        time.sleep(1.0)
        dead = system.dead()
        if dead:
            raise TransportError(f"{dead[0].name} stopped (log: {dead[0].log_path})")


def run_system(
    out: Path,
    *,
    hospitals: int,
    persons: int,
    seed: int,
    smoke: bool,
    fresh: bool,
    port: int | None,
    as_json: bool,
) -> None:
    """Set up (or reuse) the data and the hub, start the processes, run the jobs, report."""
    started = time.perf_counter()
    stop_on_sigterm()
    # Ctrl-C must stop the demo even when started with SIGINT ignored (e.g. from a script's `&`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    system: DemoSystem | None = None
    doc: dict[str, Any] | None = None
    serving = False
    try:
        with console.status("starting") as status:

            def step(what: str) -> None:
                if not as_json:
                    status.update(what)

            data = prepare(out, seed=seed, persons=persons, hospitals=hospitals, fresh=fresh,
                           on_step=step)  # fmt: skip
            phases = {"data": time.perf_counter() - started}
            step("seeding the hub")
            logins, _reused = seed_hub(out, data.report.hospitals)
            consoles = console_logins(out, data.nodes)
            phases["hub_seed"] = time.perf_counter() - started - sum(phases.values())
            system = DemoSystem(data, port=port)
            try:
                system.start(on_step=step)
                phases["start"] = time.perf_counter() - started - sum(phases.values())
                jobs = run_jobs(system.url, logins, on_step=step)
                phases["jobs"] = time.perf_counter() - started - sum(phases.values())
            except MedHavenError as exc:
                if smoke:
                    doc = {**smoke_document(system, [], time.perf_counter() - started),
                           "error": exc.message}  # fmt: skip
                raise
            doc = smoke_document(system, jobs, time.perf_counter() - started)
            doc["phases"] = {k: round(v, 2) for k, v in phases.items()}
        if not as_json:
            if data.reused:
                console.print(f"reusing the demo data in {out} (made earlier; --fresh remakes it)")
            print_report(data.report)
            for note in data.notes:
                console.print(f"[yellow]note:[/] {note}")
            _print_results(jobs)
        if not smoke:
            if as_json:
                print_json(doc)
            _print_logins(system.url, logins, out, to=console if as_json else wide_console(),
                          consoles=consoles, urls=system.consoles)  # fmt: skip
            serving = True
            _serve(system)
    except KeyboardInterrupt:
        if system is not None:
            console.print("stopping every process")
            system.stop()
        if not serving:
            raise typer.Exit(INTERRUPTED) from None
        return
    except MedHavenError:
        if doc is not None and as_json:
            print_json(doc)
        raise
    finally:
        if system is not None:
            system.stop()
    assert doc is not None
    if as_json:
        print_json(doc)
    elif smoke:
        console.print(f"smoke: {'ok' if doc['ok'] else 'FAILED'} in {doc['seconds']:.0f} s")
    if not doc["ok"]:
        failed = [n["name"] for n in doc["nodes"] if n["status"] != "up"]
        failed += [f"{j['kind']} {j['status']}" for j in doc["jobs"] if j["status"] != "completed"]
        raise CheckFailed(f"demo smoke check failed: {', '.join(failed) or 'no jobs ran'}")


__all__ = ["characterization_table", "run_system"]
