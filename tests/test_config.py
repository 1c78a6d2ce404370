"""Every setting is documented in docs/configuration.md, and the environment overrides defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from medhaven.config import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"MEDHAVEN_{name.upper()}" in text, f"{name} missing from {DOC.name}"
        assert field.description, f"{name} has no help line"


def test_environment_overrides_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDHAVEN_MIN_CELL_COUNT", "11")
    assert Settings().min_cell_count == 11
    monkeypatch.setenv("MEDHAVEN_MIN_CELL_COUNT", "0")
    with pytest.raises(ValueError):
        Settings()
