"""`medhaven program`: the program dashboard and the program's targets (officers and admins)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table as RichTable

from medhaven.cli.common import print_json
from medhaven.cli.hub_common import HubOption, JsonOption, client, show
from medhaven.errors import InvalidInput
from medhaven.hub.services.program import TABLES, from_dict, to_csv

app = typer.Typer(help="The program dashboard (program officers and admins).",
                  no_args_is_help=True)  # fmt: skip


@app.command("dashboard")
def dashboard(
    year: int | None = typer.Option(None, "--year", min=2000, max=2100, help="Only this year."),
    csv_dir: Path | None = typer.Option(
        None, "--csv", help="Write one CSV per table into this directory."
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Trainees vs targets, projects, datasets in use, jobs per month, per-node activity."""
    if csv_dir is not None and csv_dir.exists() and not csv_dir.is_dir():
        raise InvalidInput(f"--csv: {csv_dir} is not a directory")
    with client(hub) as c:
        out = c.program_dashboard(year=year)
    tables = {name: from_dict(out["tables"][name]) for name in TABLES}
    if csv_dir is not None:
        csv_dir.mkdir(parents=True, exist_ok=True)
        suffix = "" if year is None else f"-{year}"
        for name, table in tables.items():
            (csv_dir / f"program-{name}{suffix}.csv").write_text(to_csv(table), encoding="utf-8")
    if as_json:
        print_json(out)
        return
    console = Console()
    for name, table in tables.items():
        rt = RichTable(title=name, title_justify="left")
        for col in table.columns:
            rt.add_column(col)
        for row in table.rows:
            rt.add_row(*("" if v is None else str(v) for v in row))
        console.print(rt)
    console.print(f"counts of people below {out['min_cell_count']} are shown as "
                  f"<{out['min_cell_count']}")  # fmt: skip
    if csv_dir is not None:
        console.print(f"CSV written to {csv_dir}")


@app.command("target")
def target(
    year: int = typer.Option(..., "--year", min=2000, max=2100),
    trainees: int = typer.Option(..., "--trainees", min=0, max=1_000_000),
    org_id: int | None = typer.Option(None, "--org", help="A university (default: overall)."),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the program's target of trainees for a year (audited)."""
    with client(hub) as c:
        show(c.program_target(year=year, trainees=trainees, org_id=org_id), as_json=as_json)
