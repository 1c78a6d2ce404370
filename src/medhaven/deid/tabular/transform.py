"""Apply a profile's column rules to the files of an extract, inside one DuckDB connection.

Every file is read as text (:func:`~.reader.read_extract_csv`), registered in
DuckDB, and rewritten by one ``SELECT`` that joins the keyed lookup tables of
:mod:`.keymaps` (pseudonyms, the patient's date offset), the text map of
scrubbed free-text cells and the sensitive-code map. The result stays in
DuckDB as ``out_<n>`` (for the CDM builder) until it is written as CSV.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from medhaven.deid.keys import SiteKey
from medhaven.deid.pseudonym import normalise_identifier
from medhaven.deid.tabular import sql
from medhaven.deid.tabular.keymaps import map_table_name, register_pseudonyms, register_shifts
from medhaven.deid.tabular.model import ColumnRule, Profile, TableRule
from medhaven.deid.tabular.reader import ROW, read_extract_csv
from medhaven.deid.text.engine import detect
from medhaven.deid.text.replace import Replacer
from medhaven.errors import InvalidInput

SENSITIVE_COLUMN = "SENSITIVE_CATEGORY"
"""The column added to a file when sensitive rows are flagged rather than withheld."""

ENCOUNTER_NAMESPACE = "encounter"
"""Columns pseudonymised in this namespace name an encounter (notes are linked by it)."""

OLD_TABLE = "old90"
"""DuckDB table of the raw patient ids whose records reveal an age of 90 or more."""


@dataclass
class TableResult:
    """What happened to one file (counts and column names only, never a value)."""

    file: str
    rows_in: int = 0
    rows_out: int = 0
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    withheld: int = 0
    flagged: int = 0
    reason_codes_blanked: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    values_blanked: dict[str, int] = field(default_factory=dict)
    birth_years_pooled_90: int = 0
    dates_pooled_90: int = 0
    dates_blanked_no_patient: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {k: v for k, v in self.__dict__.items() if k != "file"}


def _match_sensitive(code: str, entries: tuple[tuple[str, str], ...]) -> str | None:
    value = code.strip()
    for pattern, category in entries:
        if pattern.endswith("*"):
            if value.upper().startswith(pattern[:-1].upper()):
                return category
        elif value == pattern:
            return category
    return None


class Transformer:
    """Runs one profile over one extract; tables live in ``con`` until written out."""

    def __init__(
        self,
        *,
        con: duckdb.DuckDBPyConnection,
        profile: Profile,
        key: SiteKey,
        strict_columns: bool,
    ) -> None:
        self.con = con
        self.profile = profile
        self.key = key
        self.strict = strict_columns
        self.replacer = Replacer(key, mode="tag")
        self.sources: dict[str, str] = {}  # file name -> DuckDB source table
        self.outputs: dict[str, str] = {}  # file name -> DuckDB output table
        self.columns: dict[str, list[str]] = {}  # file name -> columns as read
        self.shifts: dict[str, int] = {}
        self.patients_90 = 0
        self.sensitive_encounters: dict[str, str] = {}
        """Normalised raw encounter id -> category, for encounters with a sensitive row or code."""

    def _run(self, query: str) -> None:
        """Run a statement and read its (empty) result, so the connection is free again."""
        self.con.execute(query).fetchall()

    # Loading and keyed maps -----------------------------------------------------------

    def load(self, files: dict[str, Path]) -> None:
        """Read and register every file the profile names (``files``: rule file -> path)."""
        for n, (name, path) in enumerate(sorted(files.items())):
            rule = self.profile.table(name)
            assert rule is not None
            table = read_extract_csv(path)
            self._check_columns(rule, table)
            src = f"src_{n}"
            self.con.register(src, table)
            self.sources[rule.file] = src
            self.outputs[rule.file] = f"out_{n}"
            self.columns[rule.file] = [c for c in table.column_names if c != ROW]

    def _check_columns(self, rule: TableRule, table: pa.Table) -> None:
        present = set(table.column_names)
        missing = [c for c in rule.columns if c not in present]
        if missing and self.strict:
            raise InvalidInput(
                f"{rule.file}: the mapping names column {missing[0]}, which the file lacks"
            )
        shifted = [c for c in rule.columns if rule.columns[c].action == "date_shift"]
        if rule.patient and rule.patient not in present and set(shifted) & present:
            raise InvalidInput(
                f"{rule.file}: no column {rule.patient} (the patient id its dates are shifted by)"
            )

    def register_maps(self) -> dict[str, int]:
        """Pseudonyms per namespace and offsets per patient; returns distinct values per map."""
        by_ns: dict[str, list[tuple[str, str]]] = defaultdict(list)
        patients: list[tuple[str, str]] = []
        for file, src in self.sources.items():
            rule = self.profile.table(file)
            assert rule is not None
            present = set(self.columns[file])
            for col, r in rule.columns.items():
                if col in present and r.action == "pseudonymize" and r.namespace:
                    by_ns[r.namespace].append((src, col))
            if rule.patient and rule.patient in present:
                patients.append((src, rule.patient))
        counts = {
            ns: register_pseudonyms(self.con, namespace=ns, sources=srcs, key=self.key)
            for ns, srcs in sorted(by_ns.items())
        }
        self.shifts = register_shifts(self.con, sources=patients, key=self.key)
        counts["date_offsets"] = len(self.shifts)
        self.patients_90 = self._register_old()
        return counts

    def _register_old(self) -> int:
        """Register ``old90(raw)``: patients whose years could show an age of 90 or more.

        A patient is pooled when the year of the later of the reference date and
        their latest date in any file is 90 or more years after their birth year
        (so an event recorded at 90 counts, and so does an age of 89 that a
        year-only date could not tell from 90).
        Only birth dates under a ``birth_year`` rule are considered (the profiles
        that pool ages); without one the table is empty.
        """
        ref = self.profile.reference_date
        assert ref is not None
        births: list[str] = []
        latest: list[str] = []
        for file, src in self.sources.items():
            rule = self.profile.table(file)
            assert rule is not None
            present = set(self.columns[file])
            if not rule.patient or rule.patient not in present:
                continue
            p = sql.ident(rule.patient)
            for col, r in rule.columns.items():
                if col not in present:
                    continue
                day = f"TRY_CAST(substr({sql.ident(col)}, 1, 10) AS DATE)"
                if r.method == "birth_year":
                    births.append(f"SELECT {p} AS raw, {day} AS d FROM {src}")
                if r.action == "date_shift" or r.method in ("year", "birth_year"):
                    latest.append(f"SELECT {p} AS raw, max({day}) AS d FROM {src} GROUP BY 1")
        if not births:
            self._run(f"CREATE TABLE {OLD_TABLE} (raw VARCHAR)")
            return 0
        self._run(
            f"""CREATE TABLE {OLD_TABLE} AS
            WITH b AS (SELECT raw, min(d) AS birth FROM ({" UNION ALL ".join(births)})
                       WHERE raw IS NOT NULL AND d IS NOT NULL GROUP BY 1),
                 l AS (SELECT raw, max(d) AS last FROM ({" UNION ALL ".join(latest)}) GROUP BY 1)
            SELECT b.raw FROM b LEFT JOIN l USING (raw)
            WHERE year(greatest(DATE '{ref.isoformat()}', coalesce(l.last, DATE '{ref.isoformat()}')))
                - year(b.birth) >= 90"""
        )
        row = self.con.execute(f"SELECT count(*) FROM {OLD_TABLE}").fetchall()[0]
        return int(row[0])

    # One table -------------------------------------------------------------------

    def _validate(self, file: str, src: str, col: str, rule: ColumnRule) -> None:
        c = sql.ident(col)
        check = None
        what = ""
        if rule.action == "date_shift" or rule.method in ("year", "birth_year"):
            check, what = sql.is_date(c), "a date (YYYY-MM-DD, optionally with a time)"
        elif rule.method == "age_band":
            check, what = sql.is_age(c), "a whole age in years"
        if check is None:
            return
        row = self.con.execute(
            f"SELECT min({ROW}) FROM {src} WHERE {c} IS NOT NULL AND NOT {check}"
        ).fetchall()[0]
        if row and row[0] is not None:
            raise InvalidInput(f"{file}: data row {row[0]}: column {col} is not {what}")

    def _text_map(self, src: str, col: str, patient: str | None, name: str) -> None:
        """Register ``name(raw, pat, out)``: scrubbed text per distinct (cell, patient)."""
        shift = self.profile.notes_dates == "shift" and patient is not None
        pat_sql = sql.ident(patient) if shift and patient else "NULL"
        rows = self.con.execute(
            f"SELECT DISTINCT {sql.ident(col)}, {pat_sql} FROM {src} "
            f"WHERE {sql.ident(col)} IS NOT NULL"
        ).fetchall()
        spans_of: dict[str, Any] = {}
        raw, pat, out = [], [], []
        for value, p in rows:
            spans = spans_of.get(value)
            if spans is None:
                spans = spans_of[value] = detect(value)
            raw.append(value)
            pat.append(p)
            out.append(self.replacer.scrub(value, spans, patient=p) if spans else value)
        self.con.register(
            name,
            pa.table(
                {
                    "raw": pa.array(raw, pa.string()),
                    "pat": pa.array(pat, pa.string()),
                    "out": pa.array(out, pa.string()),
                }
            ),
        )

    def _sensitive_map(self, src: str, cols: list[str], name: str) -> bool:
        """Register ``name(code, category)`` for the sensitive codes in ``cols``; any found?"""
        union = " UNION ".join(f"SELECT {sql.ident(c)} AS v FROM {src}" for c in cols)
        codes = [r[0] for r in self.con.execute(f"SELECT DISTINCT v FROM ({union})").fetchall()]
        hits = [(c, _match_sensitive(c, self.profile.sensitive)) for c in codes if c]
        found = [(c, cat) for c, cat in hits if cat]
        self.con.register(
            name,
            pa.table(
                {
                    "code": pa.array([c for c, _ in found], pa.string()),
                    "category": pa.array([cat for _, cat in found], pa.string()),
                }
            ),
        )
        return bool(found)

    def run_table(self, file: str) -> TableResult:
        """Build ``out_<n>`` for one file and return its counts."""
        rule = self.profile.table(file)
        assert rule is not None
        src, out = self.sources[file], self.outputs[file]
        present = self.columns[file]
        result = TableResult(file=file)
        result.unknown_columns = [c for c in present if c not in rule.columns]
        result.missing_columns = [c for c in rule.columns if c not in present]
        joins: list[str] = []
        has_patient = bool(rule.patient and rule.patient in present)
        if has_patient:
            assert rule.patient is not None
            joins.append(f"LEFT JOIN shift AS sh ON sh.raw = s.{sql.ident(rule.patient)}")
            joins.append(f"LEFT JOIN {OLD_TABLE} AS o ON o.raw = s.{sql.ident(rule.patient)}")
        ref = self.profile.reference_date
        assert ref is not None
        exprs: list[str] = []
        counted: list[tuple[str, ColumnRule]] = []
        for j, col in enumerate(present):
            r = rule.columns.get(col)
            if r is None or r.action == "drop":
                if r is not None:
                    counted.append((col, r))
                continue
            self._validate(file, src, col, r)
            c = f"s.{sql.ident(col)}"
            if r.action == "keep":
                e = c
            elif r.action == "pseudonymize":
                assert r.namespace is not None
                joins.append(f"LEFT JOIN {map_table_name(r.namespace)} AS p{j} ON p{j}.raw = {c}")
                e = f"p{j}.pseudo"
            elif r.action == "date_shift":
                e = sql.shifted(c, "sh.days")
            elif r.action == "generalize":
                assert r.method is not None
                e = sql.generalized(c, r.method, ref)
                if has_patient and r.method in ("year", "birth_year"):
                    # Every date element of a 90+ patient goes into the single 90+ category:
                    # birth year (reference year - 90) and every event year (reference year).
                    pooled = ref.year - 90 if r.method == "birth_year" else ref.year
                    e = f"CASE WHEN o.raw IS NOT NULL AND {c} IS NOT NULL THEN '{pooled:04d}' ELSE {e} END"
            else:  # text
                name = f"tx_{src}_{j}"
                self._text_map(src, col, rule.patient if has_patient else None, name)
                pat = (
                    f"s.{sql.ident(rule.patient)}"
                    if has_patient and rule.patient and self.profile.notes_dates == "shift"
                    else "NULL"
                )
                joins.append(
                    f"LEFT JOIN {name} AS t{j} ON t{j}.raw = {c} "
                    f"AND t{j}.pat IS NOT DISTINCT FROM {pat}"
                )
                e = f"t{j}.out"
            blank = rule.blank_values.get(col)
            if blank is not None and blank[0] in present:
                codes = ", ".join("'" + c.replace("'", "''") + "'" for c in blank[1])
                e = f"CASE WHEN s.{sql.ident(blank[0])} IN ({codes}) THEN NULL ELSE {e} END"
                result.values_blanked[col] = self._count_blank(src, col, blank)
            exprs.append(f"{e} AS {sql.ident(col)}")
            counted.append((col, r))
        where, extra = self._sensitive(rule, src, present, joins, exprs, result)
        select = ", ".join([f"s.{ROW} AS {ROW}", *exprs, *extra])
        self._run(
            f"CREATE TABLE {out} AS SELECT {select} FROM {src} AS s "
            f"{' '.join(joins)} {where} ORDER BY s.{ROW}"
        )
        self._count(file, rule, src, out, counted, result, has_patient)
        self._collect_sensitive_encounters(rule, src, present)
        return result

    def _collect_sensitive_encounters(self, rule: TableRule, src: str, present: list[str]) -> None:
        """Remember the encounters of rows with a sensitive code (their notes follow the rows)."""
        if self.profile.sensitive_mode == "off":
            return
        codes = [c for c in rule.codes if c in present]
        every = codes + [c for c in rule.reason_codes if c in present]
        enc_cols = [
            c
            for c, r in rule.columns.items()
            if c in present and r.action == "pseudonymize" and r.namespace == ENCOUNTER_NAMESPACE
        ]
        if not every or not enc_cols:
            return
        name = f"sc_{src}"
        joins = " ".join(
            f"LEFT JOIN {name} AS z{k} ON z{k}.code = s.{sql.ident(c)}" for k, c in enumerate(every)
        )
        cat = f"coalesce({', '.join(f'z{k}.category' for k in range(len(every)))})"
        for col in enc_cols:
            rows = self.con.execute(
                f"SELECT DISTINCT s.{sql.ident(col)}, {cat} FROM {src} AS s {joins} "
                f"WHERE {cat} IS NOT NULL AND s.{sql.ident(col)} IS NOT NULL ORDER BY 1, 2"
            ).fetchall()
            for enc, category in rows:
                key = normalise_identifier(str(enc))
                if key:
                    self.sensitive_encounters.setdefault(key, str(category))

    def _count_blank(self, src: str, col: str, blank: tuple[str, tuple[str, ...]]) -> int:
        codes = ", ".join("'" + c.replace("'", "''") + "'" for c in blank[1])
        row = self.con.execute(
            f"SELECT count({sql.ident(col)}) FROM {src} WHERE {sql.ident(blank[0])} IN ({codes})"
        ).fetchall()[0]
        return int(row[0])

    def _sensitive(
        self,
        rule: TableRule,
        src: str,
        present: list[str],
        joins: list[str],
        exprs: list[str],
        result: TableResult,
    ) -> tuple[str, list[str]]:
        mode = self.profile.sensitive_mode
        codes = [c for c in rule.codes if c in present]
        reasons = [c for c in rule.reason_codes if c in present]
        if mode == "off" or not (codes or reasons):
            return "", []
        name = f"sc_{src}"
        self._sensitive_map(src, codes + reasons, name)
        cats: list[str] = []
        for k, col in enumerate(codes + reasons):
            joins.append(f"LEFT JOIN {name} AS z{k} ON z{k}.code = s.{sql.ident(col)}")
            cats.append(f"z{k}.category")
        row_cat = f"coalesce({', '.join(cats[: len(codes)])})" if codes else "NULL"
        any_cat = f"coalesce({', '.join(cats)})"
        if mode == "flag":
            return "", [f"{any_cat} AS {SENSITIVE_COLUMN}"]
        # withhold: rows whose own code is sensitive go; sensitive reason codes are blanked.
        for k, col in enumerate(reasons, start=len(codes)):
            blank = [col]
            described = rule.reason_codes[col]
            if described:
                blank.append(described)
            for i, e in enumerate(exprs):
                for b in blank:
                    if e.endswith(f" AS {sql.ident(b)}"):
                        inner = e[: -len(f" AS {sql.ident(b)}")]
                        exprs[i] = (
                            f"CASE WHEN z{k}.category IS NULL THEN {inner} END AS {sql.ident(b)}"
                        )
        return f"WHERE {row_cat} IS NULL", []

    def _count(
        self,
        file: str,
        rule: TableRule,
        src: str,
        out: str,
        counted: list[tuple[str, ColumnRule]],
        result: TableResult,
        has_patient: bool,
    ) -> None:
        parts = [f"count({sql.ident(c)})" for c, _ in counted] or ["0"]
        row = self.con.execute(f"SELECT count(*), {', '.join(parts)} FROM {src}").fetchall()[0]
        assert row is not None
        result.rows_in = int(row[0])
        for (col, r), n in zip(counted, row[1:], strict=False):
            result.columns[col] = {**r.as_dict(), "values": int(n)}
        outs = self.con.execute(f"SELECT count(*) FROM {out}").fetchall()[0]
        result.rows_out = int(outs[0]) if outs else 0
        mode = self.profile.sensitive_mode
        if mode == "withhold":
            result.withheld = result.rows_in - result.rows_out
        if mode == "flag" and SENSITIVE_COLUMN in self._out_columns(out):
            flagged = self.con.execute(
                f"SELECT {SENSITIVE_COLUMN}, count(*) FROM {out} "
                f"WHERE {SENSITIVE_COLUMN} IS NOT NULL GROUP BY 1"
            ).fetchall()
            result.by_category = {str(c): int(n) for c, n in flagged}
            result.flagged = sum(result.by_category.values())
        if mode == "withhold":
            codes = [c for c in rule.codes if c in self.columns[file]]
            reasons = [c for c in rule.reason_codes if c in self.columns[file]]
            if codes or reasons:
                result.by_category, result.reason_codes_blanked = self._sens_stats(
                    src, codes, reasons
                )
        for col, r in counted:
            if r.method not in ("birth_year", "year"):
                continue
            c = sql.ident(col)
            if has_patient and rule.patient:
                p = sql.ident(rule.patient)
                cond = f"{p} IN (SELECT raw FROM {OLD_TABLE})"
            elif r.method == "birth_year":
                ref = self.profile.reference_date
                assert ref is not None
                cond = sql.pooled_90(c, ref)
            else:
                continue
            n = self.con.execute(
                f"SELECT count(*) FROM {src} WHERE {c} IS NOT NULL AND {cond}"
            ).fetchall()[0]
            if r.method == "birth_year":
                result.birth_years_pooled_90 += int(n[0]) if n else 0
            else:
                result.dates_pooled_90 += int(n[0]) if n else 0
        shifted = [c for c, r in counted if r.action == "date_shift"]
        if shifted:
            cond = " OR ".join(f"{sql.ident(c)} IS NOT NULL" for c in shifted)
            if has_patient and rule.patient:
                p = sql.ident(rule.patient)
                q = f"SELECT count(*) FROM {src} WHERE ({p} IS NULL OR trim({p}) = '') AND ({cond})"
                n = self.con.execute(q).fetchall()[0]
                result.dates_blanked_no_patient = int(n[0]) if n else 0

    def _sens_stats(
        self, src: str, codes: list[str], reasons: list[str]
    ) -> tuple[dict[str, int], int]:
        """Withheld rows per category, and rows kept whose reason codes were blanked."""
        name = f"sc_{src}"
        every = codes + reasons
        joins = " ".join(
            f"LEFT JOIN {name} AS z{k} ON z{k}.code = s.{sql.ident(c)}" for k, c in enumerate(every)
        )
        own = f"coalesce({', '.join(f'z{k}.category' for k in range(len(codes)))})"
        other = ", ".join(f"z{k}.category" for k in range(len(codes), len(every)))
        row_cat = own if codes else "NULL"
        reason_cat = f"coalesce({other})" if reasons else "NULL"
        rows = self.con.execute(
            f"SELECT {row_cat} AS cat, count(*) FROM {src} AS s {joins} "
            f"WHERE {row_cat} IS NOT NULL GROUP BY 1"
        ).fetchall()
        blanked = self.con.execute(
            f"SELECT count(*) FROM {src} AS s {joins} "
            f"WHERE {row_cat} IS NULL AND {reason_cat} IS NOT NULL"
        ).fetchall()[0]
        return {str(c): int(n) for c, n in rows}, int(blanked[0]) if blanked else 0

    def _out_columns(self, out: str) -> list[str]:
        cur = self.con.execute(f"SELECT * FROM {out} LIMIT 0")
        names = [d[0] for d in cur.description]
        cur.fetchall()  # DuckDB 2 refuses new work while a result is unread
        return names

    # Writing ---------------------------------------------------------------------

    def write_csv(self, file: str, target: Path) -> None:
        """Write ``out_<n>`` of ``file`` as CSV (header, no row-number column)."""
        out = self.outputs[file]
        cols = ", ".join(sql.ident(c) for c in self._out_columns(out) if c != ROW)
        path = str(target).replace("'", "''")
        self._run(
            f"COPY (SELECT {cols} FROM {out} ORDER BY {ROW}) TO '{path}' (HEADER, DELIMITER ',')"
        )


ProgressFn = Callable[[str], None]

__all__ = ["SENSITIVE_COLUMN", "ProgressFn", "TableResult", "Transformer"]
