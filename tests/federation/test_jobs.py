"""Signed job specs: canonical JSON, Ed25519 round trip, tampering, keys on disk, hub keygen."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from typer.testing import CliRunner

from medhaven.cli.main import app
from medhaven.errors import ConfigError, InvalidInput, NotFound
from medhaven.federation.jobs import (
    JobSpec,
    SignedJob,
    canonical_json,
    generate_hub_keypair,
    load_private_key,
    load_public_key,
    sign_job,
)

ISSUED = dt.datetime(2026, 12, 1, 9, 30, 0, tzinfo=dt.UTC)


def _spec(**changes: object) -> JobSpec:
    base: dict[str, object] = {
        "job_id": "job-1",
        "project": "proj-7",
        "grant_id": "grant-3",
        "kind": "cohort_count",
        "parameters": {"definition": "essential_hypertension", "cohort_id": 4},
        "targets": ["seoul", "busan"],
        "expires_at": ISSUED + dt.timedelta(hours=2),
        "issued_at": ISSUED,
    }
    base.update(changes)
    return JobSpec.model_validate(base)


def test_canonical_json_is_sorted_compact_utf8_with_z_datetimes() -> None:
    spec = _spec(
        parameters={"z": 1, "a": "ü"},
        issued_at=dt.datetime(2026, 12, 1, 18, 30, tzinfo=dt.timezone(dt.timedelta(hours=9))),
    )
    expected = (
        '{"expires_at":"2026-12-01T11:30:00Z","grant_id":"grant-3",'
        '"issued_at":"2026-12-01T09:30:00Z","job_id":"job-1","kind":"cohort_count",'
        '"parameters":{"a":"ü","z":1},"project":"proj-7","targets":["seoul","busan"]}'
    ).encode()
    assert canonical_json(spec) == expected


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValidationError):
        _spec(expires_at=dt.datetime(2026, 12, 1, 12, 0))


def test_unknown_kind_and_extra_field_are_refused() -> None:
    with pytest.raises(ValidationError):
        _spec(kind="train_anything")
    with pytest.raises(ValidationError):
        _spec(sql="SELECT 1")


def test_signature_round_trip_through_the_wire_form() -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_job(_spec(), key, "hub-key-1")
    back = SignedJob.from_json(signed.to_json())
    assert back.spec == _spec()
    assert back.key_id == "hub-key-1"
    assert back.verify(key.public_key())


def test_altered_spec_fails_verification() -> None:
    key = Ed25519PrivateKey.generate()
    wire = json.loads(sign_job(_spec(), key, "k").to_json())
    wire["spec"]["parameters"]["cohort_id"] = 5
    assert not SignedJob.from_json(json.dumps(wire)).verify(key.public_key())
    wire = json.loads(sign_job(_spec(), key, "k").to_json())
    wire["spec"]["targets"].append("daegu")
    assert not SignedJob.from_json(json.dumps(wire)).verify(key.public_key())


def test_signature_from_another_key_fails() -> None:
    signed = sign_job(_spec(), Ed25519PrivateKey.generate(), "k")
    assert not signed.verify(Ed25519PrivateKey.generate().public_key())


def test_garbage_signature_fails_without_raising() -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_job(_spec(), key, "k").model_copy(update={"signature": "not base64!"})
    assert not signed.verify(key.public_key())


def test_malformed_wire_form_is_one_line_invalid_input() -> None:
    with pytest.raises(InvalidInput) as exc:
        SignedJob.from_json('{"spec": {"job_id": "x"}, "signature": "", "key_id": "k"}')
    assert "\n" not in exc.value.message
    assert exc.value.message.startswith("signed job: spec.")
    with pytest.raises(InvalidInput):
        SignedJob.from_json("not json")


def test_keypair_on_disk_private_mode_0600_and_usable(tmp_path: Path) -> None:
    private, public = generate_hub_keypair(tmp_path / "keys")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    signed = sign_job(_spec(), load_private_key(private), "k")
    assert signed.verify(load_public_key(public))
    with pytest.raises(ConfigError):
        generate_hub_keypair(tmp_path / "keys")  # never overwrite a key the nodes trust


def test_key_loading_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as missing:
        load_public_key(tmp_path / "absent.pem")
    assert str(tmp_path / "absent.pem") in missing.value.message
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    with pytest.raises(ConfigError):
        load_public_key(junk)
    with pytest.raises(ConfigError):
        load_private_key(junk)
    private, public = generate_hub_keypair(tmp_path / "k")
    with pytest.raises(ConfigError):
        load_private_key(public)  # a public key where the private one belongs
    with pytest.raises(ConfigError):
        load_public_key(private)


def test_hub_keygen_cli_writes_a_pair_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["hub", "keygen", "--out", str(tmp_path / "hk"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    private = load_private_key(Path(doc["private_key"]))
    assert sign_job(_spec(), private, "k").verify(load_public_key(Path(doc["public_key"])))
    again = runner.invoke(app, ["hub", "keygen", "--out", str(tmp_path / "hk")])
    assert isinstance(again.exception, ConfigError)
    assert "already holds a hub key" in again.exception.message
