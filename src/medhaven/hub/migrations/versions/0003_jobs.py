"""Federated jobs: one row per job submitted at the hub.

``hub_job`` holds what was asked (project, grants, kind, parameters, target
datasets and nodes), the signed spec sent to the nodes, the job's status,
each node's status and the combined, disclosure-controlled result; never a
row-level value.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "hub_job",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uid", sa.String(length=64), nullable=False, unique=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("hub_project.id"), nullable=False),
        sa.Column("grant_ids", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("dataset_ids", sa.JSON(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("min_nodes", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("node_status", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON()),
        sa.Column("signed_job", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.Integer(), sa.ForeignKey("hub_user.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_hub_job_project_id", "hub_job", ["project_id"])
    op.create_index("ix_hub_job_status", "hub_job", ["status"])


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index("ix_hub_job_status", table_name="hub_job")
    op.drop_index("ix_hub_job_project_id", table_name="hub_job")
    op.drop_table("hub_job")
