"""Build OMOP CDM v5.4 tables (Arrow) from the de-identified Synthea files held in DuckDB.

Ids: ``person_id`` and ``visit_occurrence_id`` number the sorted pseudonyms
(1, 2, ...); the pseudonym is kept as ``person_source_value``. Source codes
map through the vocabulary ('Maps to', else the code's own concept when it is
standard); a code that maps to nothing gets concept 0 and keeps its source
value. An event goes to the table of its standard concept's domain, or of its
file's default domain when unmapped.

Flagged sensitive rows (``SENSITIVE_CATEGORY`` in the files) carry the flag
into the CDM as one extra ``observation`` row each: concept 0,
``observation_source_value`` ``SENSITIVE_CATEGORY``, the category in
``value_as_string``, the flagged row's id in ``observation_event_id`` and its
table's name in ``qualifier_source_value``.

Every person gets an observation period: first to last record, or, with no
record, birth to death (else to the reference date, 1 January of its year when
dates are years).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from medhaven import __version__
from medhaven.cdm import schema
from medhaven.cdm.vocabulary import vocabulary_table
from medhaven.deid.tabular import cdm_events as ev
from medhaven.deid.tabular.reader import ROW
from medhaven.deid.tabular.sql import ident
from medhaven.deid.tabular.transform import SENSITIVE_COLUMN
from medhaven.errors import InvalidInput


@dataclass
class CdmBuild:
    """The CDM tables to write and what the mapping did (counts only)."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    mapping: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    sensitive_flags: dict[str, int] = field(default_factory=dict)
    """Flag rows written to ``observation``, per table of the flagged row."""
    observation_periods: dict[str, int] = field(default_factory=dict)
    """Periods from records, and from birth to death or the reference date (no record)."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the report."""
        return {
            "rows": {k: v.num_rows for k, v in self.tables.items()},
            "mapping": self.mapping,
            "unmapped_total": sum(m["unmapped"] for m in self.mapping.values()),
            "skipped": self.skipped,
            "sensitive_flags": self.sensitive_flags,
            "observation_periods": self.observation_periods,
        }


def _known(concept: str) -> str:
    """``concept`` when the vocabulary holds it, else 0 (an unknown id would break fkDomain)."""
    return f"CASE WHEN {concept} IN (SELECT concept_id FROM voc_concept) THEN {concept} ELSE 0 END"


def _case(col: str, mapping: Mapping[str, int], *, lower: bool) -> str:
    fn = "lower" if lower else "upper"
    arms = " ".join(f"WHEN '{k}' THEN {v}" for k, v in mapping.items())
    return _known(f"(CASE {fn}(trim({col})) {arms} ELSE 0 END)")


_EVENT_TEXT = (
    "file",
    "patient",
    "encounter",
    "start_v",
    "end_v",
    "code",
    "vocab",
    "default_domain",
    "value_v",
    "unit_v",
    "sens",
)


class CdmBuilder:
    """Runs the SQL that turns ``out_*`` tables into CDM tables, inside the given connection."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        outputs: Mapping[str, str],
        *,
        reference_date: dt.date | None = None,
    ) -> None:
        self.con = con
        self.out = {k.lower(): v for k, v in outputs.items()}
        self.reference_date = reference_date or dt.datetime.now(dt.UTC).date()
        self.build = CdmBuild()
        for name in ("concept", "concept_relationship"):
            self.con.register(f"voc_{name}", vocabulary_table(name))
        for macro in ev.MACROS:
            self.con.execute(macro).fetchall()

    def _run(self, query: str) -> None:
        """Run a statement and read its (empty) result, so the connection is free again."""
        self.con.execute(query).fetchall()

    def _cols(self, table: str) -> set[str]:
        cur = self.con.execute(f"SELECT * FROM {table} LIMIT 0")
        names = {d[0] for d in cur.description}
        cur.fetchall()  # DuckDB 2 refuses new work while a result is unread
        return names

    def run(self) -> CdmBuild:
        """Every CDM table; raises InvalidInput when the extract has no patients file."""
        if "patients.csv" not in self.out:
            raise InvalidInput("--cdm needs patients.csv in the extract")
        self._person()
        self._visits()
        self._events()
        self._death()
        self._observation_period()
        self._cdm_source()
        return self.build

    def _fetch(self, name: str, select: str) -> None:
        table = self.con.sql(select).to_arrow_table()
        fields = schema.table(name).fields
        order = [f.name for f in fields if f.name in table.column_names]
        table = table.select(order)
        for f in fields:
            # PostgreSQL enforces varchar(n); a source value longer than the field is cut.
            n = f.max_length
            if n and f.name in table.column_names:
                i = table.column_names.index(f.name)
                col = pc.utf8_slice_codeunits(table.column(i).cast(pa.string()), 0, n)
                table = table.set_column(i, f.name, col)
        self.build.tables[name] = table

    def _person(self) -> None:
        p = self.out["patients.csv"]
        cols = self._cols(p)
        for needed in ("Id", "BIRTHDATE"):
            if needed not in cols:
                raise InvalidInput(f"--cdm: patients.csv has no column {needed}")

        def opt(c: str) -> str:
            return f"s.{ident(c)}" if c in cols else "NULL"

        self._run(
            'CREATE TABLE c_pid AS SELECT "Id" AS src, row_number() OVER (ORDER BY "Id") AS '
            'person_id, "BIRTHDATE" AS birth FROM (SELECT DISTINCT "Id", "BIRTHDATE" FROM '
            f'{p} WHERE "Id" IS NOT NULL AND mh_date("BIRTHDATE") IS NOT NULL)'
        )
        total = self.con.execute(f"SELECT count(*) FROM {p}").fetchall()[0]
        kept = self.con.execute("SELECT count(*) FROM c_pid").fetchall()[0]
        assert total is not None and kept is not None
        self.build.skipped["persons_without_id_or_birth_date"] = int(total[0]) - int(kept[0])
        full = 'length(s."BIRTHDATE") >= 10'
        self._fetch(
            "person",
            f"""SELECT i.person_id,
                {_case(opt("GENDER"), ev.GENDER_CONCEPT, lower=False)} AS gender_concept_id,
                year(mh_date(s."BIRTHDATE")) AS year_of_birth,
                CASE WHEN {full} THEN month(mh_date(s."BIRTHDATE")) END AS month_of_birth,
                CASE WHEN {full} THEN day(mh_date(s."BIRTHDATE")) END AS day_of_birth,
                CASE WHEN {full} THEN mh_ts(s."BIRTHDATE") END AS birth_datetime,
                {_case(opt("RACE"), ev.RACE_CONCEPT, lower=True)} AS race_concept_id,
                {_case(opt("ETHNICITY"), ev.ETHNICITY_CONCEPT, lower=True)}
                    AS ethnicity_concept_id,
                s."Id" AS person_source_value,
                {opt("GENDER")} AS gender_source_value,
                {opt("RACE")} AS race_source_value,
                {opt("ETHNICITY")} AS ethnicity_source_value
            FROM {p} AS s JOIN c_pid AS i ON i.src = s."Id" ORDER BY i.person_id""",
        )

    def _visits(self) -> None:
        e = self.out.get("encounters.csv")
        if e is None:
            self._run("CREATE TABLE c_vid (src VARCHAR, visit_occurrence_id BIGINT)")
            return
        sens = (
            f"CAST(s.{ident(SENSITIVE_COLUMN)} AS VARCHAR)"
            if SENSITIVE_COLUMN in self._cols(e)
            else "CAST(NULL AS VARCHAR)"
        )
        self._run(
            f"""CREATE TABLE c_visit AS SELECT row_number() OVER (
                    ORDER BY i.person_id, mh_ts(s."START"), s."Id") AS visit_occurrence_id,
                s."Id" AS src, i.person_id, mh_date(s."START") AS sd, mh_ts(s."START") AS sdt,
                coalesce(mh_date(s."STOP"), mh_date(s."START")) AS ed,
                coalesce(mh_ts(s."STOP"), mh_ts(s."START")) AS edt,
                {_case('s."ENCOUNTERCLASS"', ev.VISIT_CONCEPT, lower=True)} AS vc,
                s."ENCOUNTERCLASS" AS cls, {sens} AS sens
            FROM {e} AS s JOIN c_pid AS i ON i.src = s."PATIENT"
            WHERE mh_date(s."START") IS NOT NULL"""
        )
        self._run("CREATE TABLE c_vid AS SELECT src, visit_occurrence_id FROM c_visit")
        self._fetch(
            "visit_occurrence",
            f"""SELECT visit_occurrence_id, person_id,
                CASE WHEN vc = 0 THEN {_known("9202")} ELSE vc END AS visit_concept_id,
                sd AS visit_start_date, sdt AS visit_start_datetime,
                ed AS visit_end_date, edt AS visit_end_datetime,
                {ev.EHR} AS visit_type_concept_id, cls AS visit_source_value,
                0 AS visit_source_concept_id
            FROM c_visit ORDER BY visit_occurrence_id""",
        )

    def _event_select(self, src: ev.EventSource, table: str) -> str | None:
        cols = self._cols(table)
        if not {"PATIENT", src.start, src.code} <= cols:
            return None

        def col(c: str | None) -> str:
            return f"s.{ident(c)}" if c and c in cols else "NULL"

        if src.vocabulary.startswith("column:"):
            system = col(src.vocabulary.split(":", 1)[1])
            arms = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in ev.SYSTEM_VOCABULARY.items())
            vocab = f"CASE upper({system}) {arms} ELSE {system} END"
        else:
            vocab = f"'{src.vocabulary}'"
        domain = f"'{src.domain}'"
        if src.numeric_when and src.numeric_when.split('"')[1] in cols:
            domain = f"CASE WHEN {src.numeric_when} THEN 'Measurement' ELSE {domain} END"
        enc = 's."ENCOUNTER"' if "ENCOUNTER" in cols else "NULL"
        row = f"s.{ROW}" if ROW in cols else "0"
        return f"""SELECT '{src.file}' AS file, s."PATIENT" AS patient, {enc} AS encounter,
            {col(src.start)} AS start_v, {col(src.end)} AS end_v, s.{ident(src.code)} AS code,
            {vocab} AS vocab, {domain} AS default_domain,
            CAST({col(src.value)} AS VARCHAR) AS value_v, CAST({col(src.unit)} AS VARCHAR) AS unit_v,
            CAST({col(SENSITIVE_COLUMN)} AS VARCHAR) AS sens, CAST({row} AS BIGINT) AS src_row
            FROM {table} AS s"""

    def _events(self) -> None:
        parts = []
        for src in ev.EVENT_SOURCES:
            table = self.out.get(src.file)
            if table is not None:
                select = self._event_select(src, table)
                if select is not None:
                    parts.append(select)
        if not parts:  # no event file: empty event tables (visit flags still go to observation)
            parts.append(
                "SELECT "
                + ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in _EVENT_TEXT)
                + ", CAST(NULL AS BIGINT) AS src_row WHERE false"
            )
        domains = ", ".join(f"'{d}'" for d in ev.DOMAIN_TABLE)
        self._run(
            f"""CREATE TABLE c_ev AS
            WITH raw AS ({" UNION ALL ".join(parts)}),
            maps AS (SELECT r.concept_id_1, min(r.concept_id_2) AS target
                     FROM voc_concept_relationship AS r
                     JOIN voc_concept AS t ON t.concept_id = r.concept_id_2
                     WHERE r.relationship_id = 'Maps to' AND t.standard_concept = 'S'
                     GROUP BY 1)
            SELECT e.*, i.person_id, v.visit_occurrence_id,
                coalesce(sc.concept_id, 0) AS source_concept_id,
                coalesce(m.target, CASE WHEN sc.standard_concept = 'S' THEN sc.concept_id END, 0)
                    AS concept_id,
                mh_date(e.start_v) AS sd, mh_ts(e.start_v) AS sdt,
                mh_date(e.end_v) AS ed, mh_ts(e.end_v) AS edt
            FROM raw AS e
            JOIN c_pid AS i ON i.src = e.patient
            LEFT JOIN c_vid AS v ON v.src = e.encounter
            LEFT JOIN voc_concept AS sc ON sc.vocabulary_id = e.vocab AND sc.concept_code = e.code
            LEFT JOIN maps AS m ON m.concept_id_1 = sc.concept_id
            WHERE mh_date(e.start_v) IS NOT NULL"""
        )
        self._run(
            f"""CREATE TABLE c_evd AS SELECT e.*,
                CASE WHEN t.domain_id IN ({domains}) THEN t.domain_id ELSE e.default_domain END
                    AS domain,
                CASE WHEN e.concept_id <> 0 AND t.domain_id NOT IN ({domains}) THEN 0
                     ELSE e.concept_id END AS cid,
                u.concept_id AS unit_cid,
                -- an end before the start is not kept (the interval would be negative)
                CASE WHEN e.ed >= e.sd THEN e.ed END AS ed_ok,
                CASE WHEN e.ed >= e.sd THEN e.edt END AS edt_ok
            FROM c_ev AS e
            LEFT JOIN voc_concept AS t ON t.concept_id = e.concept_id
            LEFT JOIN voc_concept AS u ON u.vocabulary_id = 'UCUM' AND u.concept_code = e.unit_v"""
        )
        # One id per event within its table, in a fixed order (the flag rows point at it).
        self._run(
            """CREATE TABLE c_evi AS SELECT *, row_number() OVER (
                PARTITION BY domain ORDER BY person_id, sdt, code, file, src_row) AS eid
            FROM c_evd"""
        )
        self._mapping_counts()
        self._event_tables()

    def _mapping_counts(self) -> None:
        rows = self.con.execute(
            """SELECT file, count(*), count(*) FILTER (cid <> 0),
                      count(DISTINCT code) FILTER (cid = 0)
               FROM c_evd GROUP BY 1 ORDER BY 1"""
        ).fetchall()
        by_table = self.con.execute(
            "SELECT file, domain, count(*) FROM c_evd GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        for file, n, mapped, codes in rows:
            self.build.mapping[file] = {
                "events": int(n),
                "mapped": int(mapped),
                "unmapped": int(n) - int(mapped),
                "unmapped_distinct_codes": int(codes),
                "to_table": {ev.DOMAIN_TABLE[d]: int(c) for f, d, c in by_table if f == file},
            }

    def _event_tables(self) -> None:
        common = "person_id, visit_occurrence_id"
        order = "ORDER BY eid"

        def rid(name: str) -> str:
            return f"eid AS {name}"

        self._fetch(
            "condition_occurrence",
            f"""SELECT {rid("condition_occurrence_id")}, {common}, cid AS condition_concept_id,
                sd AS condition_start_date, sdt AS condition_start_datetime,
                ed_ok AS condition_end_date, edt_ok AS condition_end_datetime,
                {ev.EHR} AS condition_type_concept_id, code AS condition_source_value,
                source_concept_id AS condition_source_concept_id
            FROM c_evi WHERE domain = 'Condition' {order}""",
        )
        self._fetch(
            "drug_exposure",
            f"""SELECT {rid("drug_exposure_id")}, {common}, cid AS drug_concept_id,
                sd AS drug_exposure_start_date, sdt AS drug_exposure_start_datetime,
                coalesce(ed_ok, sd) AS drug_exposure_end_date,
                coalesce(edt_ok, sdt) AS drug_exposure_end_datetime,
                {ev.EHR} AS drug_type_concept_id, code AS drug_source_value,
                source_concept_id AS drug_source_concept_id
            FROM c_evi WHERE domain = 'Drug' {order}""",
        )
        self._fetch(
            "procedure_occurrence",
            f"""SELECT {rid("procedure_occurrence_id")}, {common}, cid AS procedure_concept_id,
                sd AS procedure_date, sdt AS procedure_datetime,
                ed_ok AS procedure_end_date, edt_ok AS procedure_end_datetime,
                {ev.EHR} AS procedure_type_concept_id, code AS procedure_source_value,
                source_concept_id AS procedure_source_concept_id
            FROM c_evi WHERE domain = 'Procedure' {order}""",
        )
        self._fetch(
            "measurement",
            f"""SELECT {rid("measurement_id")}, {common}, cid AS measurement_concept_id,
                sd AS measurement_date, sdt AS measurement_datetime,
                {ev.EHR} AS measurement_type_concept_id,
                TRY_CAST(value_v AS DOUBLE) AS value_as_number,
                CASE WHEN unit_v IS NOT NULL THEN coalesce(unit_cid, 0) END AS unit_concept_id,
                code AS measurement_source_value, source_concept_id AS measurement_source_concept_id,
                unit_v AS unit_source_value, left(value_v, 50) AS value_source_value
            FROM c_evi WHERE domain = 'Measurement' {order}""",
        )
        self._fetch(
            "observation",
            f"""SELECT {rid("observation_id")}, {common}, cid AS observation_concept_id,
                sd AS observation_date, sdt AS observation_datetime,
                {ev.EHR} AS observation_type_concept_id,
                TRY_CAST(value_v AS DOUBLE) AS value_as_number,
                CASE WHEN TRY_CAST(value_v AS DOUBLE) IS NULL THEN left(value_v, 60) END
                    AS value_as_string,
                CASE WHEN unit_v IS NOT NULL THEN coalesce(unit_cid, 0) END AS unit_concept_id,
                code AS observation_source_value,
                source_concept_id AS observation_source_concept_id,
                unit_v AS unit_source_value, left(value_v, 50) AS value_source_value,
                CAST(NULL AS VARCHAR) AS qualifier_source_value,
                CAST(NULL AS BIGINT) AS observation_event_id,
                CAST(NULL AS INTEGER) AS obs_event_field_concept_id
            FROM c_evi WHERE domain = 'Observation'
            UNION ALL {self._flag_rows()} ORDER BY observation_id""",
        )
        obs = self.build.tables["observation"]
        if obs.num_rows:
            flags = obs.filter(pc.equal(obs.column("observation_source_value"), SENSITIVE_COLUMN))
            counts = pc.value_counts(flags.column("qualifier_source_value")).to_pylist()
            self.build.sensitive_flags = {str(c["values"]): int(c["counts"]) for c in counts}
        self._fetch(
            "device_exposure",
            f"""SELECT {rid("device_exposure_id")}, {common}, cid AS device_concept_id,
                sd AS device_exposure_start_date, sdt AS device_exposure_start_datetime,
                ed_ok AS device_exposure_end_date, edt_ok AS device_exposure_end_datetime,
                {ev.EHR} AS device_type_concept_id,
                TRY_CAST(value_v AS INTEGER) AS quantity,
                code AS device_source_value, source_concept_id AS device_source_concept_id
            FROM c_evi WHERE domain = 'Device' {order}""",
        )

    def _flag_rows(self) -> str:
        """``observation`` rows that carry each flagged event's or visit's sensitive category."""
        tables = ", ".join(f"('{d}', '{t}')" for d, t in ev.DOMAIN_TABLE.items())
        have = {r[0] for r in self.con.execute("SHOW TABLES").fetchall()}
        visits = (
            """UNION ALL SELECT person_id, visit_occurrence_id, sd, sdt, sens,
                'visit_occurrence' AS tbl, visit_occurrence_id AS eid
                FROM c_visit WHERE sens IS NOT NULL"""
            if "c_visit" in have
            else ""
        )
        return f"""SELECT (SELECT count(*) FROM c_evi WHERE domain = 'Observation')
                + row_number() OVER (ORDER BY f.person_id, f.sdt, f.tbl, f.eid) AS observation_id,
            f.person_id, f.visit_occurrence_id, 0 AS observation_concept_id,
            f.sd AS observation_date, f.sdt AS observation_datetime,
            {ev.EHR} AS observation_type_concept_id, CAST(NULL AS DOUBLE) AS value_as_number,
            left(f.sens, 60) AS value_as_string, CAST(NULL AS INTEGER) AS unit_concept_id,
            '{SENSITIVE_COLUMN}' AS observation_source_value, 0 AS observation_source_concept_id,
            CAST(NULL AS VARCHAR) AS unit_source_value, CAST(NULL AS VARCHAR) AS value_source_value,
            f.tbl AS qualifier_source_value, f.eid AS observation_event_id,
            0 AS obs_event_field_concept_id
            FROM (SELECT e.person_id, e.visit_occurrence_id, e.sd, e.sdt, e.sens, t.tbl, e.eid
                  FROM c_evi AS e JOIN (VALUES {tables}) AS t(domain, tbl) USING (domain)
                  WHERE e.sens IS NOT NULL {visits}) AS f"""

    def _death(self) -> None:
        p = self.out["patients.csv"]
        if "DEATHDATE" not in self._cols(p):
            return
        self._fetch(
            "death",
            f"""SELECT i.person_id, mh_date(s."DEATHDATE") AS death_date,
                mh_ts(s."DEATHDATE") AS death_datetime, {ev.EHR} AS death_type_concept_id
            FROM {p} AS s JOIN c_pid AS i ON i.src = s."Id"
            WHERE mh_date(s."DEATHDATE") IS NOT NULL ORDER BY i.person_id""",
        )

    def _observation_period(self) -> None:
        """One period per person: first to last record; with none, birth to death or reference."""
        have = {r[0] for r in self.con.execute("SHOW TABLES").fetchall()}
        spans = ["SELECT CAST(NULL AS BIGINT) AS person_id, NULL::DATE AS s, NULL::DATE AS e"]
        if "c_evd" in have:
            spans.append("SELECT person_id, sd AS s, coalesce(ed_ok, sd) AS e FROM c_evd")
        if "c_visit" in have:
            spans.append("SELECT person_id, sd AS s, ed AS e FROM c_visit")
        deaths = self.build.tables.get("death")
        self.con.register(
            "c_death",
            deaths.select(["person_id", "death_date"])
            if deaths is not None
            else pa.table(
                {"person_id": pa.array([], pa.int64()), "death_date": pa.array([], pa.date32())}
            ),
        )
        ref = self.reference_date
        # Safe-harbor dates are years (a birth date of 4 characters): the end is then 1 January.
        end = (
            f"CASE WHEN length(i.birth) = 4 THEN DATE '{ref.year:04d}-01-01' "
            f"ELSE DATE '{ref.isoformat()}' END"
        )
        self._run(
            f"""CREATE TABLE c_period AS
            WITH rec AS (SELECT person_id, min(s) AS s, greatest(max(e), max(s)) AS e
                         FROM ({" UNION ALL ".join(spans)}) WHERE person_id IS NOT NULL
                         GROUP BY person_id),
                 d AS (SELECT person_id, min(death_date) AS death FROM c_death GROUP BY 1)
            SELECT i.person_id, rec.s IS NOT NULL AS from_records,
                coalesce(rec.s, mh_date(i.birth)) AS s,
                greatest(coalesce(rec.e, d.death, {end}), coalesce(rec.s, mh_date(i.birth))) AS e
            FROM c_pid AS i LEFT JOIN rec USING (person_id) LEFT JOIN d USING (person_id)"""
        )
        self._fetch(
            "observation_period",
            f"""SELECT row_number() OVER (ORDER BY person_id) AS observation_period_id,
                person_id, s AS observation_period_start_date, e AS observation_period_end_date,
                {ev.EHR} AS period_type_concept_id
            FROM c_period ORDER BY person_id""",
        )
        rows = self.con.execute(
            "SELECT count(*) FILTER (from_records), count(*) FILTER (NOT from_records) FROM c_period"
        ).fetchall()[0]
        self.build.observation_periods = {
            "from_records": int(rows[0]),
            "birth_to_death_or_reference": int(rows[1]),
        }

    def _cdm_source(self) -> None:
        today = dt.datetime.now(dt.UTC).date()
        self.build.tables["cdm_source"] = pa.table(
            {
                "cdm_source_name": ["MedHaven de-identified extract"],
                "cdm_source_abbreviation": ["medhaven-deid"],
                "cdm_holder": ["data custodian"],
                "source_description": [f"medhaven deid tabular {__version__}"],
                "source_release_date": pa.array([today], pa.date32()),
                "cdm_release_date": pa.array([today], pa.date32()),
                "cdm_version": ["v5.4"],
                "cdm_version_concept_id": [ev.CDM_V54],
                "vocabulary_version": ["MedHaven compact"],
            }
        )


__all__ = ["CdmBuild", "CdmBuilder"]
