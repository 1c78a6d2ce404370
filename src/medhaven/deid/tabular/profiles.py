"""The two built-in profiles for Synthea's CSV layout (and the files ``medhaven synth --raw`` adds).

``safe-harbor`` (HIPAA §164.514(b)(2)): every one of the 18 identifier
categories is dropped or generalised: names, geography below state/province
(ZIP to 3 digits with the small-population prefixes to ``000``; Korean
postcodes to their 3-digit district prefix), every date to its year with
ages of 90 or more pooled, phones, fax, e-mail, SSNs and resident
registration numbers, record, insurance, account, licence, vehicle and device
numbers, URLs, IPs, biometrics, photos and other unique codes; latitude and
longitude dropped. Record ids that link rows (patient, encounter, claim) are
replaced by keyed pseudonyms, the re-identification code the rule allows,
whose key stays at the site.

``kr-pseudonym`` (Korean PIPA pseudonymisation for research): dates shifted
by each patient's keyed offset and kept, patient, record and insurance
numbers replaced by keyed pseudonyms, direct identifiers dropped, address to
시군구 (district) and postcode prefix, rows in sensitive categories withheld
(or flagged), and the key kept apart from the output.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from medhaven.deid.tabular.model import (
    DROP,
    KEEP,
    SHIFT,
    TEXT,
    ColumnRule,
    Profile,
    SensitiveMode,
    TableRule,
    gen,
    pseudo,
)
from medhaven.deid.tabular.sensitive import SensitiveList, default_sensitive_list
from medhaven.errors import InvalidInput

ProfileName = Literal["safe-harbor", "kr-pseudonym"]
PROFILES: tuple[ProfileName, ...] = ("safe-harbor", "kr-pseudonym")

NOTES_FILE = "notes.jsonl"
# Ground truth written by `medhaven synth --raw`: never read, never copied.
SKIP_FILES = ("_linkage.csv", "notes_phi.jsonl")

IDENTIFYING_ANSWERS = ("56799-0",)
"""LOINC survey items whose answer is an identifier: PRAPARE "What address do you live at?"."""

PERSON = pseudo("person")
ENCOUNTER = pseudo("encounter")
PROVIDER = pseudo("provider")
ORGANIZATION = pseudo("organization")
PAYER = pseudo("payer")


def _keep(*names: str) -> dict[str, ColumnRule]:
    return dict.fromkeys(names, KEEP)


def _drop(*names: str) -> dict[str, ColumnRule]:
    return dict.fromkeys(names, DROP)


def _tables(kr: bool) -> tuple[TableRule, ...]:
    d = SHIFT if kr else gen("year")
    zip_rule = gen("postcode3") if kr else gen("zip3")
    record = pseudo  # a record number: pseudonym in kr-pseudonym, dropped in safe-harbor

    def rec(ns: str) -> ColumnRule:
        return record(ns) if kr else DROP

    event = {"PATIENT": PERSON, "ENCOUNTER": ENCOUNTER}
    return (
        TableRule(
            "patients.csv",
            patient="Id",
            columns={
                "Id": PERSON,
                "BIRTHDATE": SHIFT if kr else gen("birth_year"),
                "DEATHDATE": d,
                **_drop("SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "LAST", "SUFFIX"),
                **_drop("MAIDEN", "BIRTHPLACE", "ADDRESS", "CITY", "LAT", "LON"),
                **_keep("MARITAL", "RACE", "ETHNICITY", "GENDER", "STATE"),
                "COUNTY": KEEP if kr else DROP,
                "ZIP": zip_rule,
                **_keep("HEALTHCARE_EXPENSES", "HEALTHCARE_COVERAGE"),
            },
            quasi=("BIRTHDATE", "GENDER", "RACE", "ETHNICITY", "STATE", "ZIP")
            + (("COUNTY",) if kr else ()),
        ),
        TableRule(
            "patients_kr.csv",
            patient="Id",
            columns={
                "Id": PERSON,
                **_drop("name_hangul", "surname_hangul", "given_hangul", "first_roman"),
                **_drop("last_roman", "rrn", "us_ssn", "phone_mobile", "phone_home", "email"),
                **_drop("address_ko", "address_en", "guardian_name_hangul"),
                **_drop("guardian_name_roman", "guardian_relation", "guardian_phone"),
                "foreigner": KEEP,
                "mrn": rec("mrn"),
                "insurance_no": rec("insurance"),
                "postcode": gen("postcode3"),
            },
        ),
        TableRule(
            "encounters.csv",
            patient="PATIENT",
            columns={
                "Id": ENCOUNTER,
                "START": d,
                "STOP": d,
                "PATIENT": PERSON,
                "ORGANIZATION": ORGANIZATION,
                "PROVIDER": PROVIDER,
                "PAYER": PAYER,
                **_keep("ENCOUNTERCLASS", "CODE", "DESCRIPTION", "BASE_ENCOUNTER_COST"),
                **_keep("TOTAL_CLAIM_COST", "PAYER_COVERAGE", "REASONCODE", "REASONDESCRIPTION"),
            },
            reason_codes={"REASONCODE": "REASONDESCRIPTION"},
        ),
        TableRule(
            "conditions.csv",
            patient="PATIENT",
            columns={"START": d, "STOP": d, **event, **_keep("CODE", "SYSTEM", "DESCRIPTION")},
            codes=("CODE",),
        ),
        TableRule(
            "medications.csv",
            patient="PATIENT",
            columns={
                "START": d,
                "STOP": d,
                **event,
                "PAYER": PAYER,
                **_keep("CODE", "DESCRIPTION", "BASE_COST", "PAYER_COVERAGE", "DISPENSES"),
                **_keep("TOTALCOST", "REASONCODE", "REASONDESCRIPTION"),
            },
            codes=("CODE",),
            reason_codes={"REASONCODE": "REASONDESCRIPTION"},
        ),
        TableRule(
            "observations.csv",
            patient="PATIENT",
            columns={
                "DATE": d,
                **event,
                **_keep("CATEGORY", "CODE", "DESCRIPTION", "VALUE", "UNITS", "TYPE"),
            },
            codes=("CODE",),
            blank_values={"VALUE": ("CODE", IDENTIFYING_ANSWERS)},
        ),
        TableRule(
            "procedures.csv",
            patient="PATIENT",
            columns={
                "START": d,
                "STOP": d,
                **event,
                **_keep("CODE", "SYSTEM", "DESCRIPTION", "BASE_COST"),
                **_keep("REASONCODE", "REASONDESCRIPTION"),
            },
            codes=("CODE",),
            reason_codes={"REASONCODE": "REASONDESCRIPTION"},
        ),
        TableRule(
            "allergies.csv",
            patient="PATIENT",
            columns={
                "START": d,
                "STOP": d,
                **event,
                **_keep("CODE", "SYSTEM", "DESCRIPTION", "TYPE", "CATEGORY"),
                **_keep("REACTION1", "DESCRIPTION1", "SEVERITY1"),
                **_keep("REACTION2", "DESCRIPTION2", "SEVERITY2"),
            },
            codes=("CODE",),
        ),
        TableRule(
            "careplans.csv",
            patient="PATIENT",
            columns={
                "Id": pseudo("careplan"),
                "START": d,
                "STOP": d,
                **event,
                **_keep("CODE", "DESCRIPTION", "REASONCODE", "REASONDESCRIPTION"),
            },
            codes=("CODE",),
            reason_codes={"REASONCODE": "REASONDESCRIPTION"},
        ),
        TableRule(
            "devices.csv",
            patient="PATIENT",
            # UDI: a device serial number (category 13).
            columns={"START": d, "STOP": d, **event, **_keep("CODE", "DESCRIPTION"), "UDI": DROP},
            codes=("CODE",),
        ),
        TableRule(
            "imaging_studies.csv",
            patient="PATIENT",
            columns={
                "Id": pseudo("imaging"),
                "DATE": d,
                **event,
                # The same keyed UIDs as `medhaven deid dicom` gives the images.
                "SERIES_UID": pseudo("dicom-uid"),
                "INSTANCE_UID": pseudo("dicom-uid"),
                **_keep("BODYSITE_CODE", "BODYSITE_DESCRIPTION", "MODALITY_CODE"),
                **_keep("MODALITY_DESCRIPTION", "SOP_CODE", "SOP_DESCRIPTION", "PROCEDURE_CODE"),
            },
            codes=("PROCEDURE_CODE",),
        ),
        TableRule(
            "immunizations.csv",
            patient="PATIENT",
            columns={"DATE": d, **event, **_keep("CODE", "DESCRIPTION", "BASE_COST")},
            codes=("CODE",),
        ),
        TableRule(
            "supplies.csv",
            patient="PATIENT",
            columns={"DATE": d, **event, **_keep("CODE", "DESCRIPTION", "QUANTITY")},
            codes=("CODE",),
        ),
        TableRule(
            "organizations.csv",
            columns={
                "Id": ORGANIZATION,
                **_drop("NAME", "ADDRESS", "CITY", "LAT", "LON", "PHONE"),
                "STATE": KEEP,
                "ZIP": zip_rule,
                **_keep("REVENUE", "UTILIZATION"),
            },
        ),
        TableRule(
            "providers.csv",
            columns={
                "Id": PROVIDER,
                "ORGANIZATION": ORGANIZATION,
                **_drop("NAME", "ADDRESS", "CITY", "LAT", "LON"),
                **_keep("GENDER", "SPECIALITY", "STATE", "UTILIZATION"),
                "ZIP": zip_rule,
            },
        ),
        TableRule(
            "providers_kr.csv",
            columns={"Id": PROVIDER, "name_hangul": DROP, "license_no": DROP},
        ),
        TableRule(
            "payers.csv",
            columns={
                "Id": PAYER,
                **_keep("NAME", "STATE_HEADQUARTERED"),
                **_drop("ADDRESS", "CITY", "ZIP", "PHONE"),
                **_keep("AMOUNT_COVERED", "AMOUNT_UNCOVERED", "REVENUE", "COVERED_ENCOUNTERS"),
                **_keep("UNCOVERED_ENCOUNTERS", "COVERED_MEDICATIONS", "UNCOVERED_MEDICATIONS"),
                **_keep("COVERED_PROCEDURES", "UNCOVERED_PROCEDURES", "COVERED_IMMUNIZATIONS"),
                **_keep("UNCOVERED_IMMUNIZATIONS", "UNIQUE_CUSTOMERS", "QOLS_AVG", "MEMBER_MONTHS"),
            },
        ),
        TableRule(
            "payer_transitions.csv",
            patient="PATIENT",
            columns={
                "PATIENT": PERSON,
                "MEMBERID": rec("insurance"),
                "START_YEAR": d,
                "END_YEAR": d,
                "PAYER": PAYER,
                "SECONDARY_PAYER": PAYER,
                "OWNERSHIP": KEEP,
                "OWNERNAME": DROP,
            },
        ),
        TableRule(
            "claims.csv",
            patient="PATIENTID",
            columns={
                "Id": pseudo("claim"),
                "PATIENTID": PERSON,
                "PROVIDERID": PROVIDER,
                "PRIMARYPATIENTINSURANCEID": PAYER,
                "SECONDARYPATIENTINSURANCEID": PAYER,
                **_keep("DEPARTMENTID", "PATIENTDEPARTMENTID"),
                **_keep(*(f"DIAGNOSIS{i}" for i in range(1, 9))),
                "REFERRINGPROVIDERID": PROVIDER,
                "APPOINTMENTID": ENCOUNTER,
                "CURRENTILLNESSDATE": d,
                "SERVICEDATE": d,
                "SUPERVISINGPROVIDERID": PROVIDER,
                **_keep("STATUS1", "STATUS2", "STATUSP", "OUTSTANDING1", "OUTSTANDING2"),
                **_keep("OUTSTANDINGP", "HEALTHCARECLAIMTYPEID1", "HEALTHCARECLAIMTYPEID2"),
                "LASTBILLEDDATE1": d,
                "LASTBILLEDDATE2": d,
                "LASTBILLEDDATEP": d,
            },
            reason_codes={f"DIAGNOSIS{i}": None for i in range(1, 9)},
        ),
        TableRule(
            "claims_transactions.csv",
            patient="PATIENTID",
            columns={
                "ID": pseudo("claim-transaction"),
                "CLAIMID": pseudo("claim"),
                "CHARGEID": KEEP,
                "PATIENTID": PERSON,
                **_keep("TYPE", "AMOUNT", "METHOD"),
                "FROMDATE": d,
                "TODATE": d,
                "PLACEOFSERVICE": ORGANIZATION,
                **_keep("PROCEDURECODE", "MODIFIER1", "MODIFIER2", "DIAGNOSISREF1"),
                **_keep("DIAGNOSISREF2", "DIAGNOSISREF3", "DIAGNOSISREF4", "UNITS"),
                **_keep("DEPARTMENTID", "UNITAMOUNT", "TRANSFEROUTID", "TRANSFERTYPE"),
                **_keep("PAYMENTS", "ADJUSTMENTS", "TRANSFERS", "OUTSTANDING", "FEESCHEDULEID"),
                "NOTES": TEXT,
                "LINENOTE": TEXT,
                "APPOINTMENTID": ENCOUNTER,
                # Synthea writes the patient's own id here.
                "PATIENTINSURANCEID": PERSON,
                "PROVIDERID": PROVIDER,
                "SUPERVISINGPROVIDERID": PROVIDER,
            },
            codes=("PROCEDURECODE",),
        ),
    )


def synthea_profile(
    name: str,
    *,
    sensitive_mode: SensitiveMode | None = None,
    sensitive: SensitiveList | None = None,
    reference_date: dt.date | None = None,
) -> Profile:
    """The built-in profile ``name`` for the Synthea layout.

    ``sensitive_mode`` defaults to ``off`` for safe-harbor and ``withhold``
    for kr-pseudonym; ``sensitive`` to the shipped list; ``reference_date``
    (the date ages are counted to, for pooling 90+) to today (UTC).
    """
    if name not in PROFILES:
        raise InvalidInput(f"unknown profile {name!r} (use safe-harbor or kr-pseudonym)")
    kr = name == "kr-pseudonym"
    mode: SensitiveMode = sensitive_mode or ("withhold" if kr else "off")
    if mode not in ("off", "flag", "withhold"):
        raise InvalidInput("the sensitive mode must be off, flag or withhold")
    return Profile(
        name=name,
        tables=_tables(kr),
        notes_file=NOTES_FILE,
        notes_dates="shift" if kr else "tag",
        sensitive_mode=mode,
        sensitive=(sensitive or default_sensitive_list()) if mode != "off" else (),
        reference_date=reference_date or dt.datetime.now(dt.UTC).date(),
        skip_files=SKIP_FILES,
    )


__all__ = ["NOTES_FILE", "PROFILES", "SKIP_FILES", "ProfileName", "synthea_profile"]
