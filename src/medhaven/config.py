"""All MedHaven settings in one place, read from ``MEDHAVEN_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """MedHaven settings; every field has a default and a help line (docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="MEDHAVEN_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Directory for MedHaven's own state (demo data, hub database, node stores).",
    )
    min_cell_count: int = Field(
        default=5,
        ge=1,
        description="Smallest count a node releases; smaller counts are suppressed.",
    )
    log_level: str = Field(default="INFO", description="Python logging level for MedHaven.")
    test_postgres_url: str | None = Field(
        default=None,
        description="PostgreSQL URL the test suite uses for its PostgreSQL runs.",
    )
    ci: bool = Field(
        default=False,
        description="Set in CI: a missing PostgreSQL server or browser fails tests instead of skipping.",
    )


def get_settings() -> Settings:
    """Return settings read from the environment now."""
    return Settings()
