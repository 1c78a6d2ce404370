"""De-identification at the node: site keys, pseudonyms, date shifts, DICOM, re-identification risk.

Everything that turns a raw hospital extract into de-identified data lives
here. Nothing in this package logs or raises with a patient value or a key.

* :mod:`.keys`: the site key and its HKDF sub-keys;
* :mod:`.pseudonym`: keyed HMAC-SHA256 pseudonyms of normalised identifiers;
* :mod:`.dateshift`: one keyed date offset per patient;
* :mod:`.risk` and :mod:`.risk_gate`: k-anonymity, l-diversity, prosecutor /
  journalist / marketer risk, and the release gate used at publication.
"""

from medhaven.deid.dateshift import date_shift_days, shift_date
from medhaven.deid.keys import DateShiftKey, KeyFileError, PseudonymKey, SiteKey, UidKey
from medhaven.deid.pseudonym import normalise_identifier, pseudonymize, pseudonymize_many
from medhaven.deid.risk import RiskReport, RiskSummary, measure_risk
from medhaven.deid.risk_gate import Candidate, GateVerdict, ReleaseRefused, evaluate_release
from medhaven.deid.risk_input import read_table

__all__ = [
    "Candidate",
    "DateShiftKey",
    "GateVerdict",
    "KeyFileError",
    "PseudonymKey",
    "ReleaseRefused",
    "RiskReport",
    "RiskSummary",
    "SiteKey",
    "UidKey",
    "date_shift_days",
    "evaluate_release",
    "measure_risk",
    "normalise_identifier",
    "pseudonymize",
    "pseudonymize_many",
    "read_table",
    "shift_date",
]
