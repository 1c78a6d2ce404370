"""`medhaven course`: courses, enrolment, teaching datasets, labs, attempts, progress, certificate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from medhaven.cli.common import print_json
from medhaven.cli.hub_common import HubOption, JsonOption, client, show
from medhaven.errors import InvalidInput

app = typer.Typer(help="Courses and labs on the hub (instructors, TAs, students).",
                  no_args_is_help=True)  # fmt: skip
COLUMNS = ("id", "code", "title", "term", "year", "my_role", "closed_at", "completed_at")
LAB_KINDS = ("cohort_count", "characterize", "train", "model_card")


def _ids(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"{option}: comma-separated ids, for example 3,4") from None


def _object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidInput(f"{option}: not JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{option}: must be a JSON object")
    return value


@app.command("list")
def list_courses(
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Courses you are in (program officers and admins: all)."""
    with client(hub) as c:
        show(c.courses(limit=limit, offset=offset), as_json=as_json, fields=COLUMNS)


@app.command("create")
def create(
    code: str = typer.Option(..., "--code", help="Course code, for example MAI101."),
    title: str = typer.Option(..., "--title"),
    term: str = typer.Option(..., "--term", help="Term, for example 2027-1."),
    year: int = typer.Option(..., "--year", min=2000, max=2100),
    org_id: int | None = typer.Option(
        None, "--org", help="University (when you teach at several)."
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a course you teach (its education project is created with it)."""
    body = {"code": code, "title": title, "term": term, "year": year, "org_id": org_id}
    with client(hub) as c:
        show(c.create_course(body), as_json=as_json)


@app.command("show")
def show_one(course_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """One course: its people, teaching datasets and labs."""
    with client(hub) as c:
        out = {"course": c.course(course_id),
               "members": c.course_members(course_id)["items"],
               "datasets": c.course_datasets(course_id)["items"],
               "labs": c.labs(course_id)["items"]}  # fmt: skip
    if as_json:
        print_json(out)
        return
    course = out["course"]
    con = Console()
    con.print(f"[bold]{course['code']} {course['title']}[/bold] ({course['term']}), "
              f"project {course['project_id']}, you: {course['my_role'] or '-'}"
              + (" [red]closed[/red]" if course["closed_at"] else ""))  # fmt: skip
    people = Table("user", "email", "role", "completed", title="People")
    for m in out["members"]:
        people.add_row(str(m["user_id"]), m["email"], m["role"], m["completed_at"] or "")
    con.print(people)
    data = Table("dataset", "name", "grant", "expires", title="Teaching datasets")
    for d in out["datasets"]:
        data.add_row(str(d["dataset_id"]), d["name"], str(d["grant_id"]), d["expires_at"])
    con.print(data)
    labs = Table("lab", "position", "kind", "title", title="Labs")
    for lab in out["labs"]:
        labs.add_row(str(lab["id"]), str(lab["position"]), lab["kind"], lab["title"])
    con.print(labs)


@app.command("enrol")
def enrol(
    course_id: int,
    email: str,
    role: str = typer.Option("student", "--role", help="student or teaching_assistant."),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Enrol a person by email (instructor or teaching assistant)."""
    if role not in ("student", "teaching_assistant"):
        raise InvalidInput("--role: student or teaching_assistant")
    with client(hub) as c:
        show(c.enrol(course_id, email, role=role), as_json=as_json)


@app.command("close")
def close(course_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Close a course you teach."""
    with client(hub) as c:
        show(c.close_course(course_id), as_json=as_json)


@app.command("request-datasets")
def request_datasets(
    course_id: int,
    datasets: str = typer.Option(..., "--datasets", help="Teaching dataset ids, comma-separated."),
    justification: str = typer.Option(..., "--justification"),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Ask for teaching datasets (an access request of the course project, reviewed as usual)."""
    ids = _ids(datasets, "--datasets")
    with client(hub) as c:
        show(c.request_course_datasets(course_id, ids, justification), as_json=as_json)


@app.command("lab-add")
def lab_add(
    course_id: int,
    title: str = typer.Option(..., "--title"),
    kind: str = typer.Option(..., "--kind", help=", ".join(LAB_KINDS) + "."),
    check: str = typer.Option(
        ..., "--check",
        help='The check as JSON: {"reference_job_id": N}, {"min_auroc": 0.7} or '
        '{"questions": [{"id", "text", "choices", "answer"}]}.',
    ),
    instructions: str = typer.Option("", "--instructions"),
    instructions_file: Path | None = typer.Option(
        None, "--instructions-file", exists=True, dir_okay=False, help="Instructions from a file."
    ),
    position: int | None = typer.Option(None, "--position", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:  # fmt: skip
    """Add a lab and its automatic check (instructor or teaching assistant)."""
    if kind not in LAB_KINDS:
        raise InvalidInput(f"--kind: one of {', '.join(LAB_KINDS)}")
    if instructions_file is not None:
        instructions = instructions_file.read_text(encoding="utf-8")
    body = {"title": title, "kind": kind, "check": _object(check, "--check"),
            "instructions": instructions, "position": position}  # fmt: skip
    with client(hub) as c:
        show(c.add_lab(course_id, body), as_json=as_json)


@app.command("attempt")
def attempt(
    course_id: int,
    lab_id: int,
    job_id: int | None = typer.Option(None, "--job", help="Your job in the course project."),
    answers: str | None = typer.Option(
        None, "--answers", help='A quiz\'s answers as JSON, for example {"q1": "discrimination"}.'
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Submit an attempt at a lab: checked at once, or pending until the job finishes."""
    if (job_id is None) == (answers is None):
        raise InvalidInput("give exactly one of --job and --answers")
    parsed = None if answers is None else {k: str(v) for k, v in
                                           _object(answers, "--answers").items()}  # fmt: skip
    with client(hub) as c:
        out = c.attempt(course_id, lab_id, job_id=job_id, answers=parsed)
    if as_json:
        print_json(out)
        return
    typer.echo(
        f"attempt {out['id']}: {out['status']}" + (f": {out['detail']}" if out["detail"] else "")
    )


@app.command("progress")
def progress(
    course_id: int,
    csv_out: Path | None = typer.Option(None, "--csv", help="Write the CSV export to this file."),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """The progress table (a student: their own row); pending attempts are checked first."""
    with client(hub) as c:
        out = c.recheck_course(course_id)
        text = c.course_progress_csv(course_id) if csv_out is not None else None
    if csv_out is not None and text is not None:
        csv_out.write_text(text, encoding="utf-8")
    if as_json:
        print_json(out)
        return
    table = Table("student", *[f"{lab['position']}. {lab['title']}" for lab in out["labs"]],
                  "passed", "completed", title=f"Course {course_id}")  # fmt: skip
    for s in out["students"]:
        cells = [("passed" if p["passed"] else ("pending" if p["pending"] else
                  ("failed" if p["attempts"] else "-"))) + f" ({p['attempts']})"
                 for p in s["labs"]]  # fmt: skip
        table.add_row(s["email"], *cells, f"{s['passed']}/{len(out['labs'])}",
                      s["completed_at"] or "")  # fmt: skip
    Console().print(table)


@app.command("certificate")
def certificate(
    course_id: int,
    out: Path = typer.Option(Path("certificate.pdf"), "--out", "-o", dir_okay=False),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Download your certificate (PDF) of a completed course."""
    with client(hub) as c:
        pdf, code = c.certificate(course_id)
    out.write_bytes(pdf)
    result = {"file": str(out), "bytes": len(pdf), "code": code}
    if as_json:
        print_json(result)
    else:
        typer.echo(f"wrote {out} ({len(pdf)} bytes); verification code {code}")


@app.command("verify")
def verify(code: str, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Whether a certificate verification code is valid."""
    with client(hub) as c:
        show(c.verify_certificate(code), as_json=as_json)


__all__ = ["app"]
