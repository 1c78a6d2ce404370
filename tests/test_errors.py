"""The error catalogue covers every error class, and codes map to distinct, sane statuses."""

from __future__ import annotations

import medhaven.errors as errors


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def test_every_error_code_is_in_the_catalogue() -> None:
    for cls in _subclasses(errors.MedHavenError):
        assert cls.code in errors.CATALOGUE, f"{cls.__name__}.code {cls.code!r} missing"


def test_catalogue_statuses_are_client_or_server_errors() -> None:
    for code, spec in errors.CATALOGUE.items():
        assert 400 <= spec.http_status < 600, code
        assert spec.exit_code >= 2, code


def test_error_keeps_detail_out_of_the_message() -> None:
    err = errors.LoadError("person.csv row 3 field person_id: not an integer", detail="secret-ish")
    assert "secret-ish" not in str(err)
    assert err.exit_code == errors.CATALOGUE["load_error"].exit_code
