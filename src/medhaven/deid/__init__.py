"""De-identification at the node: site keys, pseudonyms, date shifts, DICOM, re-identification risk.

Everything that turns a raw hospital extract into de-identified data lives
here. Nothing in this package logs or raises with a patient value or a key.
"""
