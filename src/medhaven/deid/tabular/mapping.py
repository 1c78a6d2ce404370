"""``--format csv --mapping M.yaml``: column rules for any extract, written by the data custodian.

::

    reference_date: 2025-01-01      # optional: the date ages are counted to (default today)
    text_dates: shift               # optional: dates in text columns shifted (shift) or tagged
    sensitive:                      # optional
      mode: withhold                # off | flag | withhold
      list: my_codes.csv            # optional, relative to the mapping file; default shipped list
    files:
      visits.csv:
        patient: patient_id         # the column whose keyed offset shifts the row's dates
        quasi: [birth_year, sex, zip]
        sensitive_codes: [dx_code]  # a sensitive code here withholds (or flags) the row
        columns:
          patient_id: pseudonymize               # namespace: "person" for the patient column
          mrn: {action: pseudonymize, namespace: mrn}
          visit_date: date_shift
          zip: {action: generalize, method: zip3}
          age: {action: generalize, method: age_band}
          comment: text
          name: drop
          dx_code: keep

Every column of a file must be named (an unnamed column is dropped and
reported); a column the mapping names but the file lacks is an error.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast

import yaml

from medhaven.deid.tabular.model import (
    Action,
    ColumnRule,
    Generalization,
    Profile,
    SensitiveMode,
    TableRule,
)
from medhaven.deid.tabular.sensitive import (
    SensitiveList,
    default_sensitive_list,
    read_sensitive_list,
)
from medhaven.errors import ConfigError, InvalidInput

_TOP = {"reference_date", "text_dates", "sensitive", "files"}
_FILE = {"patient", "quasi", "sensitive_codes", "columns"}
_RULE = {"action", "namespace", "method"}


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{where} must be a list of column names")
    return tuple(value)


def _rule(spec: Any, *, column: str, patient: str | None, where: str) -> ColumnRule:
    if isinstance(spec, str):
        spec = {"action": spec}
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where}: column {column}: give an action or a mapping")
    unknown = set(spec) - _RULE
    if unknown:
        raise InvalidInput(f"{where}: column {column}: unknown key {sorted(unknown)[0]}")
    action = spec.get("action")
    namespace = spec.get("namespace")
    if action == "pseudonymize" and namespace is None:
        namespace = "person" if column == patient else column.lower()
    try:
        # ColumnRule validates the action and method itself.
        return ColumnRule(
            cast(Action, action),
            namespace=namespace,
            method=cast(Generalization, spec.get("method")),
        )
    except ConfigError as exc:
        raise InvalidInput(f"{where}: column {column}: {exc.message}") from None


def _table(file: str, spec: Any, where: str) -> TableRule:
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where}: file {file}: expected a mapping")
    unknown = set(spec) - _FILE
    if unknown:
        raise InvalidInput(f"{where}: file {file}: unknown key {sorted(unknown)[0]}")
    cols = spec.get("columns")
    if not isinstance(cols, dict) or not cols:
        raise InvalidInput(f"{where}: file {file}: 'columns' must map column names to actions")
    patient = spec.get("patient")
    if patient is not None and not isinstance(patient, str):
        raise InvalidInput(f"{where}: file {file}: 'patient' must be a column name")
    rules = {
        str(c): _rule(r, column=str(c), patient=patient, where=f"{where}: file {file}")
        for c, r in cols.items()
    }
    try:
        return TableRule(
            file,
            columns=rules,
            patient=patient,
            codes=_names(spec.get("sensitive_codes"), f"{where}: file {file}: sensitive_codes"),
            quasi=_names(spec.get("quasi"), f"{where}: file {file}: quasi"),
        )
    except ConfigError as exc:
        raise InvalidInput(f"{where}: {exc.message}") from None


def read_mapping(path: Path) -> Profile:
    """The profile a mapping file describes; errors are one line naming the file and the key."""
    where = path.name
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"mapping {path} does not exist") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"mapping {path} is not UTF-8") from None
    except yaml.YAMLError:
        raise InvalidInput(f"mapping {path} is not valid YAML") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{where}: expected a mapping with a 'files' key")
    unknown = set(doc) - _TOP
    if unknown:
        raise InvalidInput(f"{where}: unknown key {sorted(unknown)[0]}")
    files = doc.get("files")
    if not isinstance(files, dict) or not files:
        raise InvalidInput(f"{where}: 'files' must map file names to their columns")
    ref = doc.get("reference_date")
    if ref is not None and not isinstance(ref, dt.date):
        raise InvalidInput(f"{where}: reference_date must be a date (YYYY-MM-DD)")
    text_dates = doc.get("text_dates", "tag")
    if text_dates not in ("shift", "tag"):
        raise InvalidInput(f"{where}: text_dates must be shift or tag")
    sens = doc.get("sensitive") or {}
    if not isinstance(sens, dict) or set(sens) - {"mode", "list"}:
        raise InvalidInput(f"{where}: sensitive takes 'mode' and 'list'")
    mode = sens.get("mode", "off")
    if mode not in ("off", "flag", "withhold"):
        raise InvalidInput(f"{where}: sensitive mode must be off, flag or withhold")
    listed: SensitiveList = ()
    if mode != "off":
        listed = (
            read_sensitive_list(path.parent / str(sens["list"]))
            if sens.get("list")
            else default_sensitive_list()
        )
    tables = tuple(_table(str(f), s, where) for f, s in files.items())
    sensitive_mode: SensitiveMode = mode
    return Profile(
        name=f"mapping:{path.name}",
        tables=tables,
        notes_dates=text_dates,
        sensitive_mode=sensitive_mode,
        sensitive=listed,
        reference_date=ref if isinstance(ref, dt.date) else dt.datetime.now(dt.UTC).date(),
    )


__all__ = ["read_mapping"]
