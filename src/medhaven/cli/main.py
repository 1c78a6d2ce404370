"""The root ``medhaven`` Typer app and the one place CLI errors become exit codes."""

from __future__ import annotations

import logging
import sys

import typer

from medhaven import __version__
from medhaven.cli import (
    cdm,
    challenges,
    characterize,
    cohort,
    courses,
    deid,
    demo,
    disclosure,
    federation,
    hub,
    hub_admin,
    hub_datasets,
    hub_login,
    hub_projects,
    hub_requests,
    hub_review,
    jobs,
    node,
    program,
    study,
    synth,
)
from medhaven.errors import MedHavenError

app = typer.Typer(
    name="medhaven",
    help="MedHaven: a trusted research environment for medical AI on de-identified OMOP CDM data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cdm.app, name="cdm")
app.add_typer(characterize.app, name="characterize")
app.add_typer(cohort.app, name="cohort")
app.add_typer(courses.app, name="course")
app.add_typer(challenges.app, name="challenge")
app.add_typer(deid.app, name="deid")
app.add_typer(disclosure.app, name="disclosure")
app.command("synth")(synth.synth)
app.command("demo")(demo.demo)
app.add_typer(hub.app, name="hub")
app.command("login")(hub_login.login)
app.command("logout")(hub_login.logout)
app.add_typer(hub_projects.app, name="projects")
app.add_typer(hub_requests.app, name="requests")
app.add_typer(hub_review.app, name="review")
app.add_typer(hub_review.grants_app, name="grants")
app.add_typer(jobs.app, name="jobs")
app.add_typer(hub_datasets.app, name="datasets")
app.add_typer(hub_admin.app, name="admin")
app.add_typer(node.app, name="node")
app.add_typer(program.app, name="program")
app.add_typer(federation.app, name="federation")
app.add_typer(study.app, name="study")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"medhaven {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """MedHaven command line."""


def main() -> None:
    """Console-script entry point: run the app, turning MedHaven errors into one line and an exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except MedHavenError as exc:
        if exc.detail:
            logging.getLogger("medhaven").debug("%s: %s", exc.code, exc.detail)
        sys.stderr.write(f"error: {exc.message}\n")
        sys.exit(exc.exit_code)


__all__ = ["app", "main"]
