"""Tabular de-identification: a raw extract folder to de-identified files, a report and a CDM.

Owns the per-column action model (:mod:`.model`: drop, pseudonymize,
date_shift, generalize, keep, text), the built-in Synthea-layout profiles
(:mod:`.profiles`: ``safe-harbor`` and ``kr-pseudonym``), custodian-written
mappings for any CSV extract (:mod:`.mapping`), the vectorised transform in
DuckDB (:mod:`.transform`, :mod:`.keymaps`, :mod:`.sql`), notes
(:mod:`.notes`), the OMOP CDM builder (:mod:`.cdm_build`, :mod:`.cdm_write`)
and the run report (:mod:`.report`). :func:`deidentify_extract` runs it all.
"""

from __future__ import annotations

from medhaven.deid.tabular.mapping import read_mapping
from medhaven.deid.tabular.model import ColumnRule, Profile, TableRule
from medhaven.deid.tabular.profiles import PROFILES, synthea_profile
from medhaven.deid.tabular.run import deidentify_extract
from medhaven.deid.tabular.sensitive import default_sensitive_list, read_sensitive_list

__all__ = [
    "PROFILES",
    "ColumnRule",
    "Profile",
    "TableRule",
    "default_sensitive_list",
    "deidentify_extract",
    "read_mapping",
    "read_sensitive_list",
    "synthea_profile",
]
