"""The concept catalogue of the synthetic-hospital generator: real OMOP concept ids.

Every id here was looked up in the OHDSI reference vocabulary (Eunomia
``CONCEPT.csv`` and the dbt-synthea vocabulary seeds) and ships in
``medhaven/cdm/vocab``; a test checks each one exists with the domain given
here and is standard. Where the reference had no exact concept the closest
one is used (see ``docs/synthetic-hospitals.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

# Visits, gender, race, ethnicity and the one type concept ("EHR") the generator uses.
INPATIENT = 9201
OUTPATIENT = 9202
EMERGENCY = 9203
MALE = 8507
FEMALE = 8532
RACE_ASIAN = 8515
NOT_HISPANIC = 38003564
EHR = 32817
SMOKES_DAILY = 42709996


@dataclass(frozen=True)
class Concept:
    """One concept the generator emits: id, name and the OMOP domain it belongs to."""

    concept_id: int
    name: str
    domain: str


@dataclass(frozen=True)
class Lab:
    """A measurement: concept, UCUM unit concept, unit text and plausible range."""

    concept_id: int
    name: str
    unit_concept_id: int
    unit: str
    low: float
    high: float


# Conditions. Keys are the generator's internal names.
CONDITIONS: dict[str, Concept] = {
    "hypertension": Concept(320128, "Essential hypertension", "Condition"),
    "t2dm": Concept(201826, "Type 2 diabetes mellitus", "Condition"),
    "hyperlipidaemia": Concept(432867, "Hyperlipidemia", "Condition"),
    "ckd1": Concept(443614, "Chronic kidney disease stage 1", "Condition"),
    "ckd2": Concept(443601, "Chronic kidney disease stage 2", "Condition"),
    "ckd3": Concept(443597, "Chronic kidney disease stage 3", "Condition"),
    "ckd4": Concept(443612, "Chronic kidney disease stage 4", "Condition"),
    "esrd": Concept(193782, "End-stage renal disease", "Condition"),
    "heart_failure": Concept(316139, "Heart failure", "Condition"),
    "chf": Concept(4229440, "Chronic congestive heart failure", "Condition"),
    "atrial_fibrillation": Concept(313217, "Atrial fibrillation", "Condition"),
    "cad": Concept(317576, "Coronary arteriosclerosis", "Condition"),
    "mi": Concept(4329847, "Myocardial infarction", "Condition"),
    # The reference vocabulary has no "Chronic obstructive lung disease" row: emphysema is the closest.
    "copd": Concept(261325, "Pulmonary emphysema", "Condition"),
    "asthma": Concept(317009, "Asthma", "Condition"),
    "childhood_asthma": Concept(4051466, "Childhood asthma", "Condition"),
    "depression": Concept(4152280, "Major depressive disorder", "Condition"),
    "breast_cancer": Concept(4112853, "Malignant tumor of breast", "Condition"),
    "colon_cancer": Concept(4180790, "Malignant tumor of colon", "Condition"),
    "lung_cancer": Concept(4115276, "Non-small cell lung cancer", "Condition"),
    "prostate_cancer": Concept(4129902, "Neoplasm of prostate", "Condition"),
    "stroke": Concept(381316, "Cerebrovascular accident", "Condition"),
    "pneumonia": Concept(255848, "Pneumonia", "Condition"),
    "sepsis": Concept(132797, "Sepsis", "Condition"),
    "bronchitis": Concept(260139, "Acute bronchitis", "Condition"),
    "pharyngitis": Concept(4112343, "Acute viral pharyngitis", "Condition"),
    "ankle_sprain": Concept(81151, "Sprain of ankle", "Condition"),
    "hip_fracture": Concept(4230399, "Closed fracture of hip", "Condition"),
}

# Drugs (RxNorm clinical drugs, and one ingredient that one hospital codes instead).
DRUGS: dict[str, Concept] = {
    "metformin": Concept(
        40163924, "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet", "Drug"
    ),
    "insulin": Concept(40166274, "insulin lispro 100 UNT/ML Injectable Solution [Humalog]", "Drug"),
    "lisinopril": Concept(19080128, "lisinopril 10 MG Oral Tablet", "Drug"),
    "lisinopril_ingredient": Concept(1308216, "lisinopril", "Drug"),
    "losartan": Concept(40185304, "losartan potassium 50 MG Oral Tablet", "Drug"),
    "amlodipine": Concept(1332419, "amlodipine 5 MG Oral Tablet", "Drug"),
    "hctz": Concept(19078106, "hydrochlorothiazide 25 MG Oral Tablet", "Drug"),
    "atorvastatin": Concept(1545959, "atorvastatin 80 MG Oral Tablet", "Drug"),
    "simvastatin": Concept(1539411, "simvastatin 20 MG Oral Tablet", "Drug"),
    "warfarin": Concept(40163554, "warfarin sodium 5 MG Oral Tablet", "Drug"),
    "carvedilol": Concept(19022781, "carvedilol 25 MG Oral Tablet", "Drug"),
    "furosemide": Concept(957136, "furosemide 40 MG Oral Tablet", "Drug"),
    "spironolactone": Concept(19079658, "spironolactone 25 MG Oral Tablet", "Drug"),
    "sacubitril_valsartan": Concept(
        46275809, "sacubitril 97 MG / valsartan 103 MG Oral Tablet", "Drug"
    ),
    "clopidogrel": Concept(19075601, "clopidogrel 75 MG Oral Tablet", "Drug"),
    "aspirin": Concept(19059056, "aspirin 81 MG Oral Tablet", "Drug"),
    "albuterol": Concept(
        1511248, "NDA020503 200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "Drug"
    ),
    "fluticasone_salmeterol": Concept(
        40169281,
        "60 ACTUAT fluticasone propionate 0.25 MG/ACTUAT / salmeterol 0.05 MG/ACTUAT "
        "Dry Powder Inhaler",
        "Drug",
    ),
    "sertraline": Concept(739207, "sertraline 100 MG Oral Tablet", "Drug"),
    "fluoxetine": Concept(19077463, "fluoxetine 20 MG Oral Capsule", "Drug"),
    "tamoxifen": Concept(19019851, "tamoxifen 10 MG Oral Tablet", "Drug"),
    "letrozole": Concept(19022830, "letrozole 2.5 MG Oral Tablet", "Drug"),
    "amoxicillin": Concept(19073188, "amoxicillin 500 MG Oral Tablet", "Drug"),
    "acetaminophen": Concept(1127433, "acetaminophen 325 MG Oral Tablet", "Drug"),
}

PROCEDURES: dict[str, Concept] = {
    "ecg": Concept(4163951, "Electrocardiographic procedure", "Procedure"),
    "echo": Concept(4230911, "Echocardiography", "Procedure"),
    "hemodialysis": Concept(4120120, "Hemodialysis", "Procedure"),
    "chemotherapy": Concept(4273629, "Chemotherapy", "Procedure"),
    "chest_xray": Concept(4163872, "Plain chest X-ray", "Procedure"),
    "colonoscopy": Concept(4249893, "Colonoscopy", "Procedure"),
    "pci": Concept(4216130, "Percutaneous coronary intervention", "Procedure"),
    "med_reconciliation": Concept(4326177, "Medication Reconciliation", "Procedure"),
}

LABS: dict[str, Lab] = {
    "sbp": Lab(3004249, "Systolic blood pressure", 8876, "mm[Hg]", 60.0, 250.0),
    "dbp": Lab(3012888, "Diastolic blood pressure", 8876, "mm[Hg]", 30.0, 150.0),
    "weight": Lab(3025315, "Body weight", 9529, "kg", 2.0, 250.0),
    "bmi": Lab(3038553, "Body mass index (BMI) [Ratio]", 9531, "kg/m2", 10.0, 70.0),
    "heart_rate": Lab(3027018, "Heart rate", 8541, "/min", 30.0, 200.0),
    "hba1c": Lab(3004410, "Hemoglobin A1c/Hemoglobin.total in Blood", 8554, "%", 3.5, 16.0),
    "glucose": Lab(3004501, "Glucose [Mass/volume] in Serum or Plasma", 8840, "mg/dL", 40.0, 600.0),
    "creatinine": Lab(
        3016723, "Creatinine [Mass/volume] in Serum or Plasma", 8840, "mg/dL", 0.2, 15.0
    ),
    "ldl": Lab(
        3009966,
        "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
        8840,
        "mg/dL",
        20.0,
        300.0,
    ),
    "hemoglobin": Lab(3000963, "Hemoglobin [Mass/volume] in Blood", 8713, "g/dL", 4.0, 20.0),
    "potassium": Lab(
        3023103, "Potassium [Moles/volume] in Serum or Plasma", 8753, "mmol/L", 2.0, 8.0
    ),
    "nt_probnp": Lab(
        3029187,
        "Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma",
        8845,
        "pg/mL",
        5.0,
        35000.0,
    ),
}

OTHER: dict[str, Concept] = {
    "inpatient": Concept(INPATIENT, "Inpatient Visit", "Visit"),
    "outpatient": Concept(OUTPATIENT, "Outpatient Visit", "Visit"),
    "emergency": Concept(EMERGENCY, "Emergency Room Visit", "Visit"),
    "male": Concept(MALE, "MALE", "Gender"),
    "female": Concept(FEMALE, "FEMALE", "Gender"),
    "asian": Concept(RACE_ASIAN, "Asian", "Race"),
    "not_hispanic": Concept(NOT_HISPANIC, "Not Hispanic or Latino", "Ethnicity"),
    "ehr": Concept(EHR, "EHR", "Type Concept"),
    "smokes_daily": Concept(SMOKES_DAILY, "Smokes tobacco daily", "Observation"),
}

# Every "heart failure" code the generator may emit (hospitals code either).
HEART_FAILURE_IDS = (CONDITIONS["heart_failure"].concept_id, CONDITIONS["chf"].concept_id)
CKD_EARLY_IDS = tuple(CONDITIONS[k].concept_id for k in ("ckd1", "ckd2", "ckd3"))
CKD_LATE_IDS = tuple(CONDITIONS[k].concept_id for k in ("ckd4", "esrd"))


def all_concepts() -> list[Concept]:
    """Every concept the generator can emit, units included, without duplicates."""
    out: dict[int, Concept] = {}
    for group in (CONDITIONS, DRUGS, PROCEDURES, OTHER):
        for c in group.values():
            out[c.concept_id] = c
    for lab in LABS.values():
        out[lab.concept_id] = Concept(lab.concept_id, lab.name, "Measurement")
        out[lab.unit_concept_id] = Concept(lab.unit_concept_id, lab.unit, "Unit")
    return sorted(out.values(), key=lambda c: c.concept_id)


def all_concept_ids() -> list[int]:
    """The ids of :func:`all_concepts`, sorted."""
    return [c.concept_id for c in all_concepts()]


__all__ = [
    "CKD_EARLY_IDS",
    "CKD_LATE_IDS",
    "CONDITIONS",
    "DRUGS",
    "EHR",
    "EMERGENCY",
    "FEMALE",
    "HEART_FAILURE_IDS",
    "INPATIENT",
    "LABS",
    "MALE",
    "NOT_HISPANIC",
    "OTHER",
    "OUTPATIENT",
    "PROCEDURES",
    "RACE_ASIAN",
    "SMOKES_DAILY",
    "Concept",
    "Lab",
    "all_concept_ids",
    "all_concepts",
]
