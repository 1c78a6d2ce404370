"""The hub's REST API under ``/api/v1``: one router per resource, guarded by the permission table."""

from medhaven.hub.api.app import HubConfig, create_app

__all__ = ["HubConfig", "create_app"]
