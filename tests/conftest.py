"""Shared fixtures: CDM stores on both backends, reference data paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from medhaven.cdm import CdmStore, open_store

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
EUNOMIA_ZIP = REFERENCE / "eunomia" / "Synthea27Nj_5.4.zip"
IN_CI = os.environ.get("MEDHAVEN_CI") == "1"


def postgres_url() -> str | None:
    """The test PostgreSQL URL, or skip (fail in CI) when none is configured."""
    url = os.environ.get("MEDHAVEN_TEST_POSTGRES_URL")
    if not url:
        if IN_CI:
            pytest.fail("MEDHAVEN_TEST_POSTGRES_URL is not set in CI")
        pytest.skip(
            "no PostgreSQL server: set MEDHAVEN_TEST_POSTGRES_URL (see scripts/start-test-postgres.sh)"
        )
    return url


@pytest.fixture
def reference() -> Path:
    """The shared reference-data folder (skip if this checkout has none)."""
    if not REFERENCE.is_dir():
        if IN_CI:
            pytest.fail(f"reference data missing at {REFERENCE}")
        pytest.skip("shared/reference is not beside this checkout")
    return REFERENCE


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL pointing at a fresh schema, dropped after the test."""
    base = postgres_url()
    assert base is not None
    schema_name = f"t_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}schema={schema_name}"
    yield url
    import psycopg

    with psycopg.connect(
        base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')


@pytest.fixture(params=["duckdb", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A target for a fresh empty CDM store, once per backend."""
    if request.param == "duckdb":
        return str(tmp_path / "cdm.duckdb")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[CdmStore]:
    """A fresh empty CDM store, once on DuckDB and once on PostgreSQL."""
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()
