"""Templates for discharge summaries, progress notes and radiology reports (Korean, English).

Each template writes into a :class:`~medhaven.synth.notes.NoteBuilder`, so
every identifier it mentions is recorded as a PHI span at the moment it is
written. Clinical content (diagnoses, drugs, results) comes from the
encounter's real CDM rows; names of concepts stay in English in Korean notes,
as they do in Korean hospitals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from medhaven.synth.notes import Note, NoteBuilder, NoteContext

KINDS = ("discharge_summary", "progress_note", "radiology_report")
REFERRAL_CLINICS = (
    ("연세튼튼내과의원", "Yonsei Teunteun Internal Medicine Clinic"),
    ("하나가정의학과의원", "Hana Family Medicine Clinic"),
    ("서울365의원", "Seoul 365 Clinic"),
    ("새봄소아청소년과의원", "Saebom Pediatrics Clinic"),
)
RELATIVES = (("할머니", "grandmother"), ("할아버지", "grandfather"), ("어머니", "mother"))
FAMILY_DISEASES = ("고혈압", "당뇨", "뇌졸중", "치매")
FAMILY_DISEASES_EN = ("hypertension", "diabetes", "stroke", "dementia")
EXAMS = (("Chest PA", "흉부 X선 PA"), ("Abdomen CT", "복부 CT"), ("Brain MRI", "뇌 MRI"))


def _patient_ref_ko(b: NoteBuilder, ctx: NoteContext) -> str:
    """'김민준 환자' / '김민준 님' / '김민준씨' / '환자 김민준'; returns the topic particle to follow."""
    ident = ctx.identity
    form = int(b.rng.integers(0, 4))
    if form == 3:
        b.text("환자 ").phi(ident.name_ko, "NAME")
        # The particle after a name depends on its last syllable; "환자(는)" avoids the question.
        return "(은/는)"
    b.phi(ident.name_ko, "NAME").text((" 환자", " 님", "씨")[form])
    return ("는", "은", "는")[form]


def _patient_ref_en(b: NoteBuilder, ctx: NoteContext) -> None:
    """'Mr. Kim' / 'Ms. Seoyeon Park' / 'the patient, Minjun Kim,'."""
    ident = ctx.identity
    title = "Mr. " if ident.sex == "M" else "Ms. "
    form = int(b.rng.integers(0, 3))
    if form == 0:
        b.text(title).phi(ident.last_en, "NAME")
    elif form == 1:
        b.text(title).phi(ident.name_en, "NAME")
    else:
        b.text("the patient, ").phi(ident.name_en, "NAME").text(",")


def _items(items: tuple[str, ...], empty: str, limit: int = 4) -> str:
    return ", ".join(items[:limit]) if items else empty


def _results(ctx: NoteContext, empty: str) -> str:
    if not ctx.measurements:
        return empty
    return "; ".join(f"{m.name} {m.value:g} {m.unit}".rstrip() for m in ctx.measurements[:5])


def _header_ko(b: NoteBuilder, ctx: NoteContext, title: str) -> None:
    ident = ctx.identity
    b.text(f"[{title}] ").phi(ctx.hospital_ko, "HOSPITAL").text("\n환자명: ")
    b.phi(ident.name_ko, "NAME").text(f" ({ident.sex}/").age(ctx.age).text("세)  등록번호: ")
    b.phi(ident.mrn, "MRN").text("\n주민등록번호: ").phi(ident.rrn, "RRN")
    b.text("  생년월일: ").date(ident.birth)
    b.text("\n주소: (").phi(ident.postcode, "POSTCODE").text(") ").phi(ident.address_ko, "ADDRESS")
    b.text("\n연락처: ").phi(ident.phone_mobile, "PHONE").text(", 자택 ")
    b.phi(ident.phone_home, "PHONE").text("  이메일: ").phi(ident.email, "EMAIL")
    b.text("\n건강보험번호: ").phi(ident.insurance_no, "INSURANCE").text("\n")


def _header_en(b: NoteBuilder, ctx: NoteContext, title: str) -> None:
    ident = ctx.identity
    b.text(f"{title.upper()} - ").phi(ctx.hospital_en, "HOSPITAL").text("\nPatient: ")
    b.phi(ident.name_en, "NAME").text(f"  Sex: {ident.sex}  Age: ").age(ctx.age)
    b.text("  MRN: ").phi(ident.mrn, "MRN").text("\nDOB: ").date(ident.birth)
    b.text("  RRN: ").phi(ident.rrn, "RRN")
    if ident.us_ssn:
        b.text("  US SSN: ").phi(ident.us_ssn, "SSN")
    b.text("\nAddress: ").phi(ident.address_en, "ADDRESS").text(" ").phi(ident.postcode, "POSTCODE")
    b.text("\nPhone: ").phi(ident.phone_mobile, "PHONE").text("  Email: ")
    b.phi(ident.email, "EMAIL").text("\nInsurance no.: ").phi(ident.insurance_no, "INSURANCE")
    b.text("\n")


def _footer(b: NoteBuilder, ctx: NoteContext) -> None:
    if b.rng.random() < 0.4:
        url = f"https://portal.{ctx.hospital_slug}.example.kr/records/{ctx.identity.mrn}"
        b.text("\nPortal: " if b.lang == "en" else "\n환자 포털: ").phi(url, "URL")
    if b.rng.random() < 0.3:
        ip = f"10.{b.rng.integers(0, 256)}.{b.rng.integers(0, 256)}.{b.rng.integers(1, 255)}"
        b.text("\nSigned from " if b.lang == "en" else "\n서명 단말 IP: ").phi(ip, "IP")
    b.text("\n")


def _family_ko(b: NoteBuilder) -> None:
    i = int(b.rng.integers(0, len(RELATIVES)))
    b.text(f"\n가족력: {RELATIVES[i][0]}(").age(int(b.rng.integers(62, 103)))
    b.text(f"세) {FAMILY_DISEASES[int(b.rng.integers(0, 4))]}")


def _family_en(b: NoteBuilder) -> None:
    i = int(b.rng.integers(0, len(RELATIVES)))
    b.text(f"\nFamily history: {RELATIVES[i][1]}, aged ").age(int(b.rng.integers(62, 103)))
    b.text(f", with {FAMILY_DISEASES_EN[int(b.rng.integers(0, 4))]}.")


def discharge_ko(b: NoteBuilder, ctx: NoteContext) -> None:
    """퇴원요약지."""
    ident = ctx.identity
    _header_ko(b, ctx, "퇴원요약지")
    b.text("입원일: ").date(ctx.start).text("  퇴원일: ").date(ctx.end)
    b.text(f"\n주진단: {_items(ctx.conditions, '특이 진단 없음')}\n\n경과: ")
    b.text(_patient_ref_ko(b, ctx) + " ").date(ctx.start).text("에 ")
    if b.rng.random() < 0.5:
        clinic = REFERRAL_CLINICS[int(b.rng.integers(0, len(REFERRAL_CLINICS)))]
        b.phi(clinic[0], "HOSPITAL").text("에서 의뢰되어 ")
    b.text(f"{_items(ctx.conditions, '전신 상태 평가')} 관련하여 입원하였다. ")
    b.text(f"입원 중 검사 결과: {_results(ctx, '특이 소견 없음')}. ")
    b.text(f"시행한 처치: {_items(ctx.procedures, '없음')}.")
    _family_ko(b)
    b.text(f"\n퇴원 약: {_items(ctx.drugs, '없음')}\n보호자 ")
    b.phi(ident.guardian_name_ko, "NAME").text(f"({ident.guardian_relation_ko}, ")
    b.phi(ident.guardian_phone, "PHONE").text(")에게 퇴원 교육을 시행함.\n")
    b.text("외래 추적: ").date(ctx.end).text(" 이후 2주 내.\n담당의: ")
    b.phi(ctx.doctor.name_ko, "NAME").text(" 의사 선생님")
    _footer(b, ctx)


def discharge_en(b: NoteBuilder, ctx: NoteContext) -> None:
    """Discharge summary."""
    ident = ctx.identity
    _header_en(b, ctx, "Discharge summary")
    b.text("Admitted: ").date(ctx.start).text("  Discharged: ").date(ctx.end)
    b.text(f"\nDiagnoses: {_items(ctx.conditions, 'none recorded')}\n\nCourse: ")
    _patient_ref_en(b, ctx)
    b.text(" was admitted on ").date(ctx.start)
    if b.rng.random() < 0.5:
        clinic = REFERRAL_CLINICS[int(b.rng.integers(0, len(REFERRAL_CLINICS)))]
        b.text(", referred by ").phi(clinic[1], "HOSPITAL")
    b.text(f" for {_items(ctx.conditions, 'evaluation')}. ")
    b.text(f"Results: {_results(ctx, 'unremarkable')}. ")
    b.text(f"Procedures: {_items(ctx.procedures, 'none')}.")
    _family_en(b)
    b.text(f"\nDischarge medications: {_items(ctx.drugs, 'none')}\nDiscussed with ")
    b.text(f"{ident.guardian_relation_en} ").phi(ident.guardian_name_en, "NAME")
    b.text(" (").phi(ident.guardian_phone, "PHONE").text(").\nAttending: Dr. ")
    b.phi(ctx.doctor.name_en, "NAME")
    _footer(b, ctx)


def progress_ko(b: NoteBuilder, ctx: NoteContext) -> None:
    """경과기록지 (SOAP)."""
    _header_ko(b, ctx, "경과기록")
    b.text("작성일: ").date(ctx.start).text("\nS) ")
    _patient_ref_ko(b, ctx)
    b.text(f", {_items(ctx.conditions, '정기 검진')} 관련 내원. ")
    if ctx.previous_visit is not None:
        b.text("지난 방문(").date(ctx.previous_visit).text(") 이후 증상 변화 관찰.")
    b.text(f"\nO) {_results(ctx, '활력징후 안정')}\nA) {_items(ctx.conditions, '이상 소견 없음')}")
    b.text(f"\nP) {_items(ctx.drugs, '경과 관찰')}; 다음 외래 ").date(ctx.end)
    b.text("\n작성: ").phi(ctx.doctor.name_ko, "NAME").text(" 선생님")
    _footer(b, ctx)


def progress_en(b: NoteBuilder, ctx: NoteContext) -> None:
    """Progress note (SOAP)."""
    _header_en(b, ctx, "Progress note")
    b.text("Date of service: ").date(ctx.start).text("\nS: ")
    _patient_ref_en(b, ctx)
    b.text(f" presents for {_items(ctx.conditions, 'a routine check-up')}.")
    if ctx.previous_visit is not None:
        b.text(" Last seen on ").date(ctx.previous_visit).text(".")
    b.text(f"\nO: {_results(ctx, 'vitals stable')}\nA: {_items(ctx.conditions, 'no acute issue')}")
    b.text(f"\nP: {_items(ctx.drugs, 'observe')}; follow up ").date(ctx.end)
    b.text("\nSigned: Dr. ").phi(ctx.doctor.name_en, "NAME")
    _footer(b, ctx)


def radiology_ko(b: NoteBuilder, ctx: NoteContext) -> None:
    """영상판독지."""
    exam = EXAMS[int(b.rng.integers(0, len(EXAMS)))]
    _header_ko(b, ctx, "영상판독")
    b.text(f"검사: {exam[1]}  검사일: ").date(ctx.start)
    if ctx.previous_visit is not None:
        b.text("\n비교: ").date(ctx.previous_visit).text(" 검사")
    b.text(f"\n임상정보: {_items(ctx.conditions, '정기 검사')}\n소견: 급성 병변 없음.")
    b.text("\n판독의: ").phi(ctx.doctor.name_ko, "NAME").text(" (영상의학과)")
    _footer(b, ctx)


def radiology_en(b: NoteBuilder, ctx: NoteContext) -> None:
    """Radiology report."""
    exam = EXAMS[int(b.rng.integers(0, len(EXAMS)))]
    _header_en(b, ctx, "Radiology report")
    b.text(f"Exam: {exam[0]}  Date: ").date(ctx.start)
    if ctx.previous_visit is not None:
        b.text("\nComparison: ").date(ctx.previous_visit)
    b.text(f"\nHistory: {_items(ctx.conditions, 'routine')}\nFindings: no acute abnormality.")
    b.text("\nRead by Dr. ").phi(ctx.doctor.name_en, "NAME").text(", Radiology")
    _footer(b, ctx)


TEMPLATES: dict[tuple[str, str], Callable[[NoteBuilder, NoteContext], None]] = {
    ("discharge_summary", "ko"): discharge_ko,
    ("discharge_summary", "en"): discharge_en,
    ("progress_note", "ko"): progress_ko,
    ("progress_note", "en"): progress_en,
    ("radiology_report", "ko"): radiology_ko,
    ("radiology_report", "en"): radiology_en,
}


def render_note(
    ctx: NoteContext, *, kind: str, lang: str, note_id: str, rng: np.random.Generator
) -> Note:
    """Render one note of ``kind`` in ``lang`` for an encounter."""
    b = NoteBuilder(lang=lang, rng=rng)
    TEMPLATES[(kind, lang)](b, ctx)
    text, spans = b.build()
    return Note(note_id, ctx.patient_id, ctx.encounter_id, kind, lang, text, spans)


__all__ = ["KINDS", "TEMPLATES", "render_note"]
