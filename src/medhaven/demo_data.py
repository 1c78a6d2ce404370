"""The full demo's data: raw hospital extracts, de-identified into each node's CDM, reused.

For every hospital :func:`prepare` does what its custodian would: generate a
raw Synthea-layout extract (:func:`medhaven.synth.write_hospitals` with
``raw=True``), make the site key once (``OUT/keys/<hospital>.key``, mode 0600,
kept apart from the data), de-identify the raw extract into the node's CDM
with the ``kr-pseudonym`` profile (pseudonyms, per-patient date shift,
sensitive rows withheld), run the quality checks, and write the node's
``node.toml`` (accepted kinds, minimum cell count 5, the hub's public key).
It also checks that the library cohorts still find the same patients at the
node as in the generator's own CDM; a difference becomes a note in the output.

``OUT/demo.json`` records the parameters and the summary once everything is
in place. A second run with the same parameters reuses all of it; different
parameters are refused (use another ``--out`` or ``--fresh``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medhaven.analytics import DisclosurePolicy
from medhaven.cdm.checks import run_checks
from medhaven.cdm.store import open_store
from medhaven.deid.keys import SiteKey
from medhaven.deid.tabular import deidentify_extract, synthea_profile
from medhaven.demo import DemoReport, HospitalSummary, _count_events, released_cohort_counts
from medhaven.errors import InvalidInput
from medhaven.hub.services.jobs import hub_public_key_path, hub_signing_key
from medhaven.synth.outcomes import outcome_summary
from medhaven.synth.writer import write_hospitals

MANIFEST = "demo.json"
FORMAT = 1
#: What the demo writes under OUT (``--fresh`` removes exactly these, nothing else).
OWNED = ("extracts", "keys", "nodes", "hub", "run", "logins.json", MANIFEST)
ACCEPTED_KINDS = ("cohort_count", "characterize", "incidence", "train", "evaluate")
MIN_CELL_COUNT = 5
#: The demo hospital (by position) whose custodian must release results of HELD_KINDS first;
#: count and characterize are not held, so the smoke jobs still complete.
HOLDING_NODE = 0
HELD_KINDS = ("incidence",)
PROFILE = "kr-pseudonym"

StepFn = Callable[[str], None]


@dataclass(frozen=True)
class DemoData:
    """The prepared data: the summary per node, notes, where things are, and whether reused."""

    out: Path
    report: DemoReport
    nodes: list[str]
    notes: list[str] = field(default_factory=list)
    reused: bool = False

    def node_config(self, node: str) -> Path:
        """The ``node.toml`` of one node."""
        return self.out / "nodes" / node / "node.toml"

    @property
    def hub_dir(self) -> Path:
        """The hub's data directory (database, job-signing key)."""
        return self.out / "hub"


def _params(*, seed: int, persons: int, hospitals: int) -> dict[str, int]:
    return {"seed": seed, "persons": persons, "hospitals": hospitals}


def write_json(path: Path, doc: dict[str, Any], *, mode: int = 0o644) -> None:
    """Write aside, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_manifest(out: Path) -> dict[str, Any] | None:
    """``OUT/demo.json`` when the data is complete there, else ``None``."""
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InvalidInput(f"{path}: not a demo manifest (use another --out or --fresh)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInput(f"{path}: not a demo manifest (use another --out or --fresh)")
    return doc


def clear(out: Path) -> None:
    """Remove what the demo wrote under ``out`` (only its own files and folders)."""
    for name in OWNED:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def _summary_from(doc: dict[str, Any]) -> DemoReport:
    hospitals = [
        HospitalSummary(**{k: v for k, v in h.items() if k != "checks_ok"})
        for h in doc["report"]["hospitals"]
    ]
    r = doc["report"]
    return DemoReport(out=r["out"], seed=r["seed"], persons=r["persons"], hospitals=hospitals,
                      seconds=r["seconds"])  # fmt: skip


def _node_toml(node_dir: Path, name: str, hub_key: Path, *, holds: bool = False) -> None:
    kinds = ", ".join(json.dumps(k) for k in ACCEPTED_KINDS)
    held = ", ".join(json.dumps(k) for k in HELD_KINDS)
    text = (
        f"name = {json.dumps(name)}\n"
        'cdm = "cdm.duckdb"\n'
        f"accepted_kinds = [{kinds}]\n"
        f"min_cell_count = {MIN_CELL_COUNT}\n"
        f"hub_public_key = {json.dumps(str(hub_key.resolve()))}\n"
        'deid_report = "deid-report.json"\n'
        + (f"require_release_approval = [{held}]\n" if holds else "")
    )
    path = node_dir / "node.toml"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:  # unchanged: untouched
        path.write_text(text, encoding="utf-8")


def _write_node_tomls(out: Path, nodes: list[str]) -> None:
    """Every node's ``node.toml`` (again on each start: a reused demo gets today's policy)."""
    for i, slug in enumerate(nodes):
        if (out / "nodes" / slug).is_dir():
            _node_toml(out / "nodes" / slug, slug, hub_public_key_path(out / "hub"),
                       holds=i == HOLDING_NODE)  # fmt: skip


def _site_key(keys: Path, slug: str) -> SiteKey:
    """The hospital's site key: made once (0600), read back on later runs."""
    path = keys / f"{slug}.key"
    if path.exists():
        return SiteKey.load(path)
    key = SiteKey.generate()
    key.write(path)
    return key


def _prepare_node(out: Path, entry: Any, policy: DisclosurePolicy, step: StepFn) -> tuple[
    HospitalSummary, list[str]
]:  # fmt: skip
    slug = entry.slug
    node_dir = out / "nodes" / slug
    shutil.rmtree(node_dir, ignore_errors=True)
    node_dir.mkdir(parents=True)
    key = _site_key(out / "keys", slug)
    step(f"{slug}: de-identifying the raw extract into the node's CDM")
    started = time.perf_counter()
    report = deidentify_extract(
        source=out / "extracts" / entry.raw,
        output=node_dir / "deidentified",
        key=key,
        profile=synthea_profile(PROFILE),
        report_path=node_dir / "deid-report.json",
        cdm=str(node_dir / "cdm.duckdb"),
    )
    seconds = time.perf_counter() - started
    notes: list[str] = []
    with open_store(node_dir / "cdm.duckdb") as store:
        step(f"{slug}: running the quality checks")
        checks = run_checks(store)
        step(f"{slug}: generating the example cohorts")
        cohorts = released_cohort_counts(store, policy)
        summary = HospitalSummary(
            slug=slug, name_en=entry.name_en, name_ko=entry.name_ko, profile=entry.profile,
            store=store.location, persons=store.count("person"),
            visits=store.count("visit_occurrence"), events=_count_events(store),
            outcomes=outcome_summary(store), cohorts=cohorts,
            loaded_rows=sum(int(n) for n in (report.get("cdm") or {}).get("rows", {}).values()),
            load_seconds=round(seconds, 3), checks_passed=checks.passed,
            checks_failed=checks.failed, checks_errors=checks.errors,
        )  # fmt: skip
    # Does de-identification keep what the cohorts need? Compare with the generator's CDM.
    with open_store(out / "extracts" / entry.cdm) as source:
        before = released_cohort_counts(source, policy)
    for name, shown in before.items():
        if cohorts.get(name) != shown:
            notes.append(
                f"{slug}: cohort {name} finds {cohorts.get(name)} persons after "
                f"de-identification, {shown} in the generator's CDM"
            )
    _node_toml(node_dir, slug, hub_public_key_path(out / "hub"))
    return summary, notes


def prepare(
    out: Path,
    *,
    seed: int,
    persons: int,
    hospitals: int,
    fresh: bool = False,
    on_step: StepFn | None = None,
) -> DemoData:
    """Make (or reuse) the demo's node data under ``out``; see the module docstring."""
    if hospitals < 1:
        raise InvalidInput("--hospitals: must be at least 1")
    if persons < 1:
        raise InvalidInput("--persons: must be at least 1")
    step = on_step or (lambda _what: None)
    wanted = _params(seed=seed, persons=persons, hospitals=hospitals)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out: {out} exists and is not a folder")
    if fresh:
        clear(out)
    doc = read_manifest(out)
    if doc is not None:
        had = {k: doc.get(k) for k in wanted}
        if had != wanted:
            shown = " ".join(f"--{k} {v}" for k, v in had.items())
            raise InvalidInput(
                f"--out {out} holds a demo made with {shown}: use another --out, "
                "the same options, or --fresh"
            )
        report = _summary_from(doc)
        _write_node_tomls(out, [h.slug for h in report.hospitals])
        return DemoData(out=out, report=report, nodes=[h.slug for h in report.hospitals],
                        notes=list(doc.get("notes", [])), reused=True)  # fmt: skip
    clear(out)  # an incomplete earlier run: start again from nothing
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / "keys").mkdir(mode=0o700)
    (out / "hub").mkdir(mode=0o700)
    hub_signing_key(out / "hub")  # nodes are given its public key
    step(f"generating {hospitals} hospitals of {persons:,} persons (raw extracts)")
    manifest = write_hospitals(out / "extracts", hospitals=hospitals, persons=persons, seed=seed,
                               raw=True)  # fmt: skip
    policy = DisclosurePolicy(min_cell_count=MIN_CELL_COUNT)
    summaries: list[HospitalSummary] = []
    notes: list[str] = []
    for entry in manifest.hospitals:
        summary, node_notes = _prepare_node(out, entry, policy, step)
        summaries.append(summary)
        notes.extend(node_notes)
    _write_node_tomls(out, [s.slug for s in summaries])
    report = DemoReport(out=str(out), seed=seed, persons=persons, hospitals=summaries,
                        seconds=round(time.perf_counter() - started, 3))  # fmt: skip
    write_json(out / MANIFEST, {"format": FORMAT, **wanted, "report": report.to_dict(),
                                 "notes": notes})  # fmt: skip
    return DemoData(out=out, report=report, nodes=[h.slug for h in summaries], notes=notes)


__all__ = [
    "ACCEPTED_KINDS",
    "HELD_KINDS",
    "HOLDING_NODE",
    "MANIFEST",
    "DemoData",
    "clear",
    "prepare",
    "read_manifest",
]
