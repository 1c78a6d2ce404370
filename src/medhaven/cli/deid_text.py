"""``medhaven deid text``: scrub PHI from English and Korean notes (JSON Lines in, JSON Lines out)."""

from __future__ import annotations

from pathlib import Path

import typer

from medhaven.cli.common import console, print_json, progress
from medhaven.deid.keys import SiteKey
from medhaven.deid.text.engine import detect
from medhaven.deid.text.evaluate import evaluate, read_gold
from medhaven.deid.text.records import deidentify_file, read_records
from medhaven.deid.text.replace import Mode, Replacer
from medhaven.errors import InvalidInput


def text(
    input_path: Path = typer.Option(
        ..., "--input", help='JSON Lines, one {"id", "text"[, "patient"]} per line (UTF-8).'
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        help='Where to write {"id", "text", "spans"} lines (written aside, then renamed).',
    ),
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        help="The site key (from `medhaven deid keygen`): surrogates and date shifts.",
    ),
    mode: str = typer.Option(
        "tag", "--mode", help="tag: replace with [LABEL]; surrogate: realistic keyed fake values."
    ),
    gold: Path | None = typer.Option(
        None,
        "--evaluate",
        help='Ground truth {"id", "spans"} lines: print recall and precision per label instead.',
    ),
    strict_labels: bool = typer.Option(
        False,
        "--strict-labels",
        help="With --evaluate: a span counts only when covered by spans of the very same label.",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the summary or the metrics as JSON."
    ),
) -> None:
    """Find and replace PHI (names, RRNs, phones, dates, addresses, ...) in clinical notes.

    Spans in the output refer to the INPUT text. Dates are shifted by the
    patient's own offset when a line carries "patient"; otherwise tagged.
    With --evaluate GOLD.jsonl nothing is written: the notes of --input are
    scored against the gold spans (same label family, >= 50% overlap).
    """
    if mode not in ("tag", "surrogate"):
        raise InvalidInput("--mode must be tag or surrogate")
    size = input_path.stat().st_size if input_path.is_file() else 0
    if gold is not None:
        truth = read_gold(gold)
        predicted = {}
        with progress(not json_out) as bar:
            task = bar.add_task("detecting PHI", total=size or None)
            for rec in read_records(input_path):
                predicted[rec.id] = detect(rec.text)
                bar.advance(task, len(rec.text.encode("utf-8")) + 1)
        ev = evaluate(truth, predicted, strict_labels=strict_labels)
        if json_out:
            print_json(ev.as_dict())
        else:
            for fam, c in sorted(ev.by_family.items()):
                console.print(
                    f"{fam:<11} recall {c.recall:.4f}  precision {c.precision:.4f}"
                    f"  (gold {c.gold}, predicted {c.predicted})"
                )
        return
    if output is None or key_file is None:
        raise InvalidInput("--output and --key-file are needed unless --evaluate is given")
    key = SiteKey.load(key_file)
    mode_t: Mode = "surrogate" if mode == "surrogate" else "tag"
    replacer = Replacer(key, mode=mode_t)
    with progress(not json_out) as bar:
        task = bar.add_task("de-identifying notes", total=size or None)
        summary = deidentify_file(
            source=input_path,
            target=output,
            replacer=replacer,
            on_note=lambda n: bar.advance(task, n),
        )
    info = {
        "output": str(output),
        "notes": summary.notes,
        "characters": summary.characters,
        "spans": summary.spans,
        "by_label": summary.by_label,
        "seconds": round(summary.seconds, 3),
        "mode": mode,
        "key_fingerprint": key.fingerprint,
    }
    if json_out:
        print_json(info)
    else:
        console.print(
            f"wrote {output}: {summary.notes} notes, {summary.spans} PHI spans replaced ({mode})"
        )


__all__ = ["text"]
