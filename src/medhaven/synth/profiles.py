"""Hospital profiles: who each synthetic hospital treats and how it codes (non-IID by design).

Names are fictional, in Korean and English; none is a real hospital.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from medhaven.errors import InvalidInput


@dataclass(frozen=True)
class HospitalProfile:
    """One hospital: identity, population, prevalence shifts, coding habits and outcome shifts.

    Prevalence and outcome shifts are added on the logit scale, so the same
    risk factors drive outcomes everywhere while base rates differ.
    """

    slug: str
    name_ko: str
    name_en: str
    city_ko: str
    city_en: str
    kind: str
    age_mean: float
    age_sd: float
    female_share: float
    bmi_mean: float
    smoker_share: float
    prevalence_shift: float
    outcome_shift: float
    visit_rate: float  # outpatient visits per person-year for a healthy person
    inpatient_rate: float  # background admissions per person-year
    measurement_share: float  # chance a vital/lab is recorded when indicated
    codes_specific_hf: bool  # codes "Chronic congestive heart failure" instead of "Heart failure"
    codes_childhood_asthma: bool  # codes "Childhood asthma" for patients under 18
    codes_ingredient: bool  # records lisinopril as the RxNorm ingredient, not the clinical drug


_BASE: tuple[HospitalProfile, ...] = (
    HospitalProfile(
        "hanbit-university",
        "한빛대학교병원",
        "Hanbit University Hospital",
        "서울",
        "Seoul",
        "tertiary university hospital",
        age_mean=62.0,
        age_sd=16.0,
        female_share=0.47,
        bmi_mean=24.8,
        smoker_share=0.22,
        prevalence_shift=0.6,
        outcome_shift=0.35,
        visit_rate=2.2,
        inpatient_rate=0.25,
        measurement_share=0.95,
        codes_specific_hf=True,
        codes_childhood_asthma=True,
        codes_ingredient=False,
    ),
    HospitalProfile(
        "saemmul-general",
        "샘물종합병원",
        "Saemmul General Hospital",
        "청주",
        "Cheongju",
        "regional general hospital",
        age_mean=50.0,
        age_sd=19.0,
        female_share=0.52,
        bmi_mean=24.2,
        smoker_share=0.20,
        prevalence_shift=0.0,
        outcome_shift=0.0,
        visit_rate=1.6,
        inpatient_rate=0.12,
        measurement_share=0.8,
        codes_specific_hf=False,
        codes_childhood_asthma=False,
        codes_ingredient=True,
    ),
    HospitalProfile(
        "pureun-community",
        "푸른숲병원",
        "Pureun Forest Hospital",
        "세종",
        "Sejong",
        "community hospital in a young new town",
        age_mean=33.0,
        age_sd=17.0,
        female_share=0.55,
        bmi_mean=23.3,
        smoker_share=0.14,
        prevalence_shift=-0.5,
        outcome_shift=-0.3,
        visit_rate=1.2,
        inpatient_rate=0.06,
        measurement_share=0.45,
        codes_specific_hf=False,
        codes_childhood_asthma=False,
        codes_ingredient=False,
    ),
)

_EXTRA_NAMES = (
    ("바다빛", "Badabit", "부산", "Busan"),
    ("솔내", "Solnae", "강릉", "Gangneung"),
    ("별무리", "Byeolmuri", "대전", "Daejeon"),
    ("노을", "Noeul", "목포", "Mokpo"),
    ("한울", "Hanul", "대구", "Daegu"),
    ("가람", "Garam", "전주", "Jeonju"),
    ("누리", "Nuri", "광주", "Gwangju"),
)


def hospital_profiles(n: int) -> list[HospitalProfile]:
    """The first ``n`` profiles: the three archetypes, then variations of them."""
    if n < 1:
        raise InvalidInput("--hospitals: must be at least 1")
    out = list(_BASE[:n])
    for i in range(max(0, n - len(_BASE))):
        base = _BASE[i % len(_BASE)]
        ko, en, city_ko, city_en = _EXTRA_NAMES[i % len(_EXTRA_NAMES)]
        round_ = i // len(_EXTRA_NAMES)
        suffix = f"-{round_ + 1}" if round_ else ""
        # Each extra hospital shifts age and prevalence a little so no two are identical.
        step = (i + 1) * 0.15
        out.append(
            replace(
                base,
                slug=f"{en.lower()}-medical{suffix}",
                name_ko=f"{ko}의료원",
                name_en=f"{en} Medical Center" + (f" {round_ + 1}" if round_ else ""),
                city_ko=city_ko,
                city_en=city_en,
                kind=f"{base.kind} (variant)",
                age_mean=base.age_mean + (4.0 if i % 2 else -4.0),
                prevalence_shift=base.prevalence_shift + (step if i % 2 else -step),
                outcome_shift=base.outcome_shift + (0.1 if i % 2 else -0.1),
                measurement_share=min(1.0, max(0.3, base.measurement_share - 0.1 * (i % 3))),
                codes_specific_hf=not base.codes_specific_hf if i % 2 else base.codes_specific_hf,
            )
        )
    return out


__all__ = ["HospitalProfile", "hospital_profiles"]
