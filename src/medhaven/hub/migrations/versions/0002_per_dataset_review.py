"""Per-dataset review, central review boards, editing and retiring datasets and projects.

* ``hub_org.review_board``: an organisation whose reviewers form a central board;
* ``hub_access_request_dataset``: each dataset of a request has its own status, number of
  approvals needed and decision time (filled from the request for existing rows);
* ``hub_review_dataset``: which datasets a review decided on (existing reviews covered every
  dataset of their request); a reviewer decides once per dataset, no longer once per request;
* ``updated_at`` on datasets and projects, ``retired_at`` on datasets.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from medhaven.errors import ConfigError

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _drop_request_reviewer_unique() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite's constraint has no name: name it by convention while the table is rebuilt
        with op.batch_alter_table(
            "hub_review",
            recreate="always",
            naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"},
        ) as batch:
            batch.drop_constraint("uq_hub_review_request_id", type_="unique")
        return
    for uq in sa.inspect(bind).get_unique_constraints("hub_review"):
        if sorted(uq["column_names"]) == ["request_id", "reviewer_id"] and uq["name"]:
            op.drop_constraint(uq["name"], "hub_review", type_="unique")


def upgrade() -> None:
    """Apply this migration."""
    op.add_column(
        "hub_org",
        sa.Column("review_board", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("hub_dataset", sa.Column("updated_at", sa.DateTime(timezone=True)))
    op.add_column("hub_dataset", sa.Column("retired_at", sa.DateTime(timezone=True)))
    op.add_column("hub_project", sa.Column("updated_at", sa.DateTime(timezone=True)))
    op.add_column(
        "hub_access_request_dataset",
        sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"),
    )
    op.add_column(
        "hub_access_request_dataset",
        sa.Column("required_approvals", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column("hub_access_request_dataset", sa.Column("decided_at", sa.DateTime(timezone=True)))
    # existing requests were decided as a whole: every dataset shares the request's outcome
    op.execute(
        "UPDATE hub_access_request_dataset SET "
        "status = (SELECT r.status FROM hub_access_request r"
        " WHERE r.id = hub_access_request_dataset.request_id), "
        "decided_at = (SELECT r.decided_at FROM hub_access_request r"
        " WHERE r.id = hub_access_request_dataset.request_id), "
        "required_approvals = (SELECT d.required_approvals FROM hub_dataset d"
        " WHERE d.id = hub_access_request_dataset.dataset_id)"
    )
    _drop_request_reviewer_unique()
    op.create_table(
        "hub_review_dataset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["hub_review.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["hub_access_request.id"]),
        sa.ForeignKeyConstraint(["dataset_id"], ["hub_dataset.id"]),
        sa.ForeignKeyConstraint(["reviewer_id"], ["hub_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "dataset_id", "reviewer_id"),
    )
    op.create_index(
        op.f("ix_hub_review_dataset_review_id"), "hub_review_dataset", ["review_id"], unique=False
    )
    op.create_index(
        op.f("ix_hub_review_dataset_request_id"),
        "hub_review_dataset",
        ["request_id"],
        unique=False,
    )
    op.execute(
        "INSERT INTO hub_review_dataset (review_id, request_id, dataset_id, reviewer_id, decision) "
        "SELECT v.id, v.request_id, d.dataset_id, v.reviewer_id, v.decision "
        "FROM hub_review v JOIN hub_access_request_dataset d ON d.request_id = v.request_id"
    )


def downgrade() -> None:
    """Not supported: per-dataset decisions cannot be folded back into one per request."""
    raise ConfigError(
        "the hub schema cannot be downgraded below 0002: per-dataset decisions do not fold "
        "back into one per request; restore a backup taken before the upgrade instead"
    )
