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
    hub_database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the hub database; unset means SQLite at DATA_DIR/hub.db.",
    )
    hub_url: str = Field(
        default="http://127.0.0.1:8700",
        description="Hub address the command-line client talks to.",
    )
    hub_token: str | None = Field(
        default=None,
        description="API token for the command-line client (overrides the saved login).",
    )
    hub_credentials: Path | None = Field(
        default=None,
        description="File where `medhaven login` saves its API token (default ~/.config/medhaven/hub.json).",
    )
    hub_secure_cookies: bool = Field(
        default=True,
        description="Mark hub session cookies Secure (HTTPS only); switch off for plain-HTTP loopback.",
    )
    hub_superlink: str | None = Field(
        default=None,
        description="Flower SuperLink (host:port) the hub dispatches jobs to; unset keeps jobs queued.",
    )
    hub_superlink_ca: Path | None = Field(
        default=None,
        description="CA certificate of a SuperLink that serves TLS (from `medhaven federation certs`).",
    )
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
