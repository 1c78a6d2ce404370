"""Course certificates: a PDF for a student who completed a course, and its verification code.

The code is ``<membership id>-<HMAC-SHA256>`` (first 20 hex digits) of the
certificate's fields (name, course, university, term, completion date, labs
passed) under a secret kept in the hub's data directory (``certificate.key``,
32 random bytes, mode 0600, made on first use). Anyone holding the code can
ask the hub whether it is valid: the hub recomputes the HMAC from what it holds
now, so a changed name or a forged code answers not valid.

The PDF embeds NanumGothic (Korean and Latin) from
``/usr/share/fonts/truetype/nanum`` (Debian's ``fonts-nanum``) or the file named
by ``MEDHAVEN_CERTIFICATE_FONT``; without a font the hub says so (ConfigError).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from medhaven.errors import ConfigError, Conflict, Forbidden
from medhaven.hub.models import Course, CourseMember, CourseRole, LabAttempt, Org, User
from medhaven.hub.services import courses
from medhaven.hub.services.common import Principal

SECRET_FILE = "certificate.key"  # noqa: S105  (a file name, not a secret)
FONT_ENV = "MEDHAVEN_CERTIFICATE_FONT"
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf"),
    Path("/usr/share/fonts/nanum/NanumGothic.ttf"),
)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class CertificateFacts:
    """What a certificate states (and what its code is computed over)."""

    member_id: int
    name: str
    email: str
    course_code: str
    course_title: str
    university: str
    term: str
    completed_on: str  # ISO date
    labs_passed: int


def secret(keys_dir: Path) -> bytes:
    """The hub's certificate secret, made (0600) on first use."""
    path = keys_dir / SECRET_FILE
    with _LOCK:
        if not path.exists():
            keys_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
        data = path.read_bytes()
    if len(data) < 32:
        raise ConfigError(f"{path}: the certificate secret is shorter than 32 bytes")
    return data


def code_of(facts: CertificateFacts, key: bytes) -> str:
    """The verification code of these facts."""
    message = json.dumps(asdict(facts), sort_keys=True, ensure_ascii=False).encode("utf-8")
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()[:20]
    return f"{facts.member_id}-{digest}"


def facts_of(session: Session, member: CourseMember) -> CertificateFacts | None:
    """The facts of a completed student's certificate; None when not completed."""
    if member.completed_at is None or member.role != CourseRole.STUDENT.value:
        return None
    course = session.get(Course, member.course_id)
    user = session.get(User, member.user_id)
    assert course is not None and user is not None
    org = session.get(Org, course.org_id)
    lab_ids = [lab.id for lab in courses.labs(session, course.id)]
    passed = set(
        session.execute(
            select(LabAttempt.lab_id).where(
                LabAttempt.lab_id.in_(lab_ids),
                LabAttempt.user_id == user.id,
                LabAttempt.passed.is_(True),
            )
        ).scalars()
    )
    return CertificateFacts(
        member_id=member.id,
        name=user.name or user.email,
        email=user.email,
        course_code=course.code,
        course_title=course.title,
        university=org.name if org else "",
        term=course.term,
        completed_on=member.completed_at.date().isoformat(),
        labs_passed=len(passed),
    )


def own_facts(session: Session, principal: Principal, course_id: int) -> CertificateFacts:
    """The caller's own certificate facts: a student of the course who completed it (else 409)."""
    course = courses.get_visible(session, principal, course_id)
    member = courses.membership(session, course.id, principal.user_id)
    if member is None or member.role != CourseRole.STUDENT.value:
        raise Forbidden("a certificate is issued to the course's students only")
    courses.recheck(session, course.id, user_id=principal.user_id)
    facts = facts_of(session, member)
    if facts is None:
        raise Conflict(f"course {course_id} is not completed yet: every lab must be passed")
    return facts


def verify(session: Session, code: str, key: bytes) -> CertificateFacts | None:
    """The facts behind a valid code; None when the code is not valid."""
    head, _, _digest = code.strip().partition("-")
    if not head.isdigit() or len(head) > 12:
        return None
    member = session.get(CourseMember, int(head))
    if member is None:
        return None
    facts = facts_of(session, member)
    if facts is None or not hmac.compare_digest(code_of(facts, key), code.strip()):
        return None
    return facts


def font_path() -> Path:
    """The TrueType font with Korean glyphs the certificate is set in."""
    named = os.environ.get(FONT_ENV)
    candidates = [Path(named)] if named else list(FONT_CANDIDATES)
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        "no font with Korean glyphs for certificates: install fonts-nanum "
        f"(NanumGothic.ttf) or set {FONT_ENV}"
    )


def render_pdf(facts: CertificateFacts, code: str, *, font: Path | None = None) -> bytes:
    """The certificate as PDF bytes, in English and Korean."""
    from fpdf import FPDF

    font = font or font_path()
    # fontTools reports each table of the font it does not subset: noise in the hub's log
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_title(f"Certificate {facts.course_code}")
    pdf.set_creator("MedHaven")
    pdf.add_font("Nanum", "", str(font))
    pdf.add_page()
    pdf.set_draw_color(40, 70, 120)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 277, 190)
    width = 257.0

    def line(text: str, size: float, gap: float) -> None:
        pdf.set_font("Nanum", size=size)
        pdf.set_x(20)
        pdf.multi_cell(width, gap, text, align="C", new_x="LMARGIN", new_y="NEXT")

    pdf.set_y(28)
    line("Certificate of Completion", 28, 16)
    line("수료증", 20, 14)
    pdf.ln(6)
    line("This certifies that / 다음 사람은", 12, 8)
    line(facts.name, 24, 14)
    line("has completed the course / 아래 과정을 수료하였습니다", 12, 10)
    line(f"{facts.course_code} {facts.course_title}", 18, 12)
    line(f"{facts.university} · {facts.term}", 14, 10)
    pdf.ln(4)
    line(f"Completed on / 수료일: {facts.completed_on}", 12, 8)
    line(f"Labs passed / 통과한 실습: {facts.labs_passed}", 12, 8)
    pdf.ln(8)
    line(f"Verification code / 확인 코드: {code}", 11, 7)
    line("Verify at the hub: GET /api/v1/certificates/verify?code=...", 9, 6)
    return bytes(pdf.output())


__all__ = [
    "FONT_ENV",
    "SECRET_FILE",
    "CertificateFacts",
    "code_of",
    "facts_of",
    "font_path",
    "own_facts",
    "render_pdf",
    "secret",
    "verify",
]
