"""Free-text PHI scrubbing on synthetic notes: MedHaven vs Microsoft Presidio (patterns only).

Both tools read the same corpus: the notes ``medhaven synth --raw`` writes for
the Eunomia CDM (English and Korean), scored against the ground-truth spans the
generator writes beside them (``notes_phi.jsonl``) with the rule of
``medhaven.deid.text.evaluate``.

Presidio runs its predefined pattern recognisers (the English defaults plus the
five Korean ones, which Presidio ships disabled: RRN, FRN, BRN, driver licence,
passport; phone numbers parsed for the KR region too) behind its ``NoOpNlpEngine``:
no spaCy or transformer model, since none can be downloaded here. Its e-mail
recogniser calls ``tldextract``, which fetches the public-suffix list over the
network unless told not to; it is pointed at the snapshot bundled in the
``tldextract`` wheel. When ``presidio-analyzer`` is not installed (it is in the
``bench`` extra) the Presidio rows say so and carry no figure.
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from benchmarks.result import Result
from medhaven.deid.text.engine import detect
from medhaven.deid.text.evaluate import Evaluation, evaluate, read_gold
from medhaven.deid.text.spans import Span, resolve

GOAL_FAMILIES = ("name", "identifier", "phone", "date", "address")

# Presidio entity -> the MedHaven label whose family it is scored in.
PRESIDIO_LABELS = {
    "PERSON": "NAME",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "URL": "URL",
    "IP_ADDRESS": "IP",
    "DATE_TIME": "DATE",
    "US_SSN": "SSN",
    "KR_RRN": "RRN",
    "KR_FRN": "RRN",
    "LOCATION": "ADDRESS",
    "ORGANIZATION": "HOSPITAL",
    **dict.fromkeys(
        (
            "KR_BRN",
            "KR_DRIVER_LICENSE",
            "KR_PASSPORT",
            "US_DRIVER_LICENSE",
            "US_BANK_NUMBER",
            "US_PASSPORT",
            "US_ITIN",
            "UK_NHS",
            "MEDICAL_LICENSE",
            "CREDIT_CARD",
            "IBAN_CODE",
        ),
        "MRN",
    ),
}

Notes = list[tuple[str, str]]
Detector = Callable[[str], list[Span]]


def _corpus(tmp: Path) -> tuple[Notes, dict[str, list[Span]]]:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "synth"))
    from test_raw import HOSPITAL, load_eunomia

    from medhaven.synth.raw import write_raw_extract

    out = tmp / "h1"
    write_raw_extract(load_eunomia(), out, seed=11, hospital=HOSPITAL)
    lines = (out / "notes.jsonl").read_text(encoding="utf-8").splitlines()
    notes = [(r["id"], r["text"]) for r in map(json.loads, lines)]
    return notes, read_gold(out / "notes_phi.jsonl")


def presidio_detector() -> Detector | str:
    """Presidio's pattern recognisers as a detector, or the reason it cannot run here."""
    try:
        import tldextract
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer import predefined_recognizers as pr
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
    except ImportError as exc:
        return f"presidio-analyzer not installed ({exc.name}): install the 'bench' extra"
    # Bundled public-suffix snapshot only: no download at run time.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())  # type: ignore[assignment]
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(
        pr.PhoneRecognizer(supported_regions=("KR", "US", "GB", "DE", "FR", "IL", "IN", "CA", "BR"))
    )
    for korean in (
        pr.KrRrnRecognizer,
        pr.KrFrnRecognizer,
        pr.KrBrnRecognizer,
        pr.KrDriverLicenseRecognizer,
        pr.KrPassportRecognizer,
    ):
        # Registered under "en" so that one analyze() call per note runs every recogniser:
        # the Korean notes carry the same numbers, and Presidio takes one language per call.
        registry.add_recognizer(korean(supported_language="en"))
    engine = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])

    def run(text: str) -> list[Span]:
        found = [
            Span(r.start, r.end, PRESIDIO_LABELS.get(r.entity_type, r.entity_type), r.score)
            for r in engine.analyze(text=text, language="en")
        ]
        # Presidio reports overlapping finds (one number as bank account and licence); keep the
        # best of each overlap, as its anonymizer does, so that precision is comparable.
        return resolve(found)

    return run


def _throughput(detector: Detector, notes: Notes, *, repeat: int) -> float:
    """MB of UTF-8 text per second on one core (best of ``repeat`` passes, GC of setup frozen)."""
    size = sum(len(t.encode("utf-8")) for _, t in notes) / 1e6
    gc.collect()
    gc.freeze()  # the corpus generator's heap is not the detector's garbage to collect
    try:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            for _, text in notes:
                detector(text)
            best = min(best, time.process_time() - t0)
    finally:
        gc.unfreeze()
    return size / best


def _score(detector: Detector, notes: Notes, gold: Mapping[str, Sequence[Span]]) -> Evaluation:
    return evaluate(gold, {nid: detector(text) for nid, text in notes})


def run(scale: float) -> list[Result]:
    """Throughput (MB/s, one core) and recall of MedHaven and Presidio on the same notes."""
    with tempfile.TemporaryDirectory() as d:
        notes, gold = _corpus(Path(d))
    # Best of several short passes (as timeit does) so that other work on the machine counts as
    # little as possible; Presidio is about two orders of magnitude slower, one pass suffices.
    ours_mbs = _throughput(detect, notes * 3, repeat=max(3, int(15 * scale)))
    ours = _score(detect, notes, gold)
    presidio = presidio_detector()
    if isinstance(presidio, str):
        name, note = "presidio (not run)", presidio
        theirs, theirs_mbs = None, None
    else:
        name = "presidio-analyzer, patterns + KR, no NER"
        note = "same notes; ratio > 1: MedHaven faster / finds more"
        theirs_mbs = _throughput(presidio, notes, repeat=1)
        theirs = _score(presidio, notes, gold)
    rows = [
        Result("text_throughput", ours_mbs, "MB/s", name, theirs_mbs, ">= 5 MB/s/core", note),
        Result(
            "text_recall",
            ours.overall.recall,
            "recall",
            name,
            theirs.overall.recall if theirs else None,
            ">= 0.99",
            note,
        ),
    ]
    rows.append(
        Result(
            "text_precision",
            ours.overall.precision,
            "precision",
            name,
            theirs.overall.precision if theirs else None,
            ">= 0.95",
            "a span is correct when gold spans of its family cover >= 50% of it",
        )
    )
    for fam in GOAL_FAMILIES:
        rows.append(
            Result(
                f"text_recall_{fam}",
                ours.by_family[fam].recall,
                "recall",
                name,
                theirs.by_family[fam].recall if theirs and fam in theirs.by_family else None,
                ">= 0.99",
                "",
            )
        )
    return rows


__all__ = ["PRESIDIO_LABELS", "presidio_detector", "run"]
