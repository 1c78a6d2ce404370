"""Courses, labs, prediction challenges and the program's targets.

``hub_course`` (one per university, code and term; its data access is its own
education project), ``hub_course_member`` (instructor, teaching assistants,
students), ``hub_lab`` and ``hub_lab_attempt`` (a guided exercise and each
automatic check of a student's result), ``hub_challenge`` and
``hub_challenge_submission`` (a task scored on a hidden test set at the nodes;
only rounded scores are stored), ``hub_program_target`` (trainees per year).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(name: str, target: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), sa.ForeignKey(f"{target}.id"), nullable=nullable)


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "hub_course",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("org_id", "hub_org"),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("term", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        _fk("instructor_id", "hub_user"),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("hub_project.id"),
            nullable=False,
            unique=True,
        ),
        _ts("created_at"),
        _ts("closed_at", nullable=True),
        sa.UniqueConstraint("org_id", "code", "term"),
    )
    op.create_index("ix_hub_course_org_id", "hub_course", ["org_id"])
    op.create_index("ix_hub_course_year", "hub_course", ["year"])
    op.create_table(
        "hub_course_member",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("course_id", "hub_course"),
        _fk("user_id", "hub_user"),
        sa.Column("role", sa.String(length=32), nullable=False),
        _ts("enrolled_at"),
        _ts("completed_at", nullable=True),
        sa.UniqueConstraint("course_id", "user_id"),
    )
    op.create_index("ix_hub_course_member_course_id", "hub_course_member", ["course_id"])
    op.create_index("ix_hub_course_member_user_id", "hub_course_member", ["user_id"])
    op.create_table(
        "hub_lab",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("course_id", "hub_course"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("check", sa.JSON(), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_hub_lab_course_id", "hub_lab", ["course_id"])
    op.create_table(
        "hub_lab_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("lab_id", "hub_lab"),
        _fk("user_id", "hub_user"),
        _fk("job_id", "hub_job", nullable=True),
        sa.Column("answers", sa.JSON()),
        sa.Column("passed", sa.Boolean()),
        sa.Column("detail", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("checked_at", nullable=True),
    )
    op.create_index("ix_hub_lab_attempt_lab_id", "hub_lab_attempt", ["lab_id"])
    op.create_index("ix_hub_lab_attempt_user_id", "hub_lab_attempt", ["user_id"])
    op.create_table(
        "hub_challenge",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("course_id", "hub_course", nullable=True),
        _fk("project_id", "hub_project"),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("task", sa.JSON(), nullable=False),
        sa.Column("dataset_ids", sa.JSON(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("test_fraction", sa.Float(), nullable=False),
        sa.Column("public_fraction", sa.Float(), nullable=False),
        sa.Column("score_digits", sa.Integer(), nullable=False),
        sa.Column("max_daily", sa.Integer(), nullable=False),
        sa.Column("split_seed", sa.Integer(), nullable=False),
        _ts("opens_at"),
        _ts("closes_at"),
        _fk("created_by", "hub_user"),
        _ts("created_at"),
    )
    op.create_index("ix_hub_challenge_course_id", "hub_challenge", ["course_id"])
    op.create_index("ix_hub_challenge_project_id", "hub_challenge", ["project_id"])
    op.create_table(
        "hub_challenge_submission",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("challenge_id", "hub_challenge"),
        _fk("user_id", "hub_user"),
        _fk("job_id", "hub_job", nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("public_score", sa.Float()),
        sa.Column("private_score", sa.Float()),
        _ts("created_at"),
        _ts("scored_at", nullable=True),
    )
    op.create_index(
        "ix_hub_challenge_submission_challenge_id", "hub_challenge_submission", ["challenge_id"]
    )
    op.create_index("ix_hub_challenge_submission_user_id", "hub_challenge_submission", ["user_id"])
    op.create_table(
        "hub_program_target",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("year", sa.Integer(), nullable=False),
        _fk("org_id", "hub_org", nullable=True),
        sa.Column("trainees", sa.Integer(), nullable=False),
        sa.UniqueConstraint("year", "org_id"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("hub_program_target")
    for table, columns in (
        ("hub_challenge_submission", ("challenge_id", "user_id")),
        ("hub_challenge", ("course_id", "project_id")),
        ("hub_lab_attempt", ("lab_id", "user_id")),
        ("hub_lab", ("course_id",)),
        ("hub_course_member", ("course_id", "user_id")),
        ("hub_course", ("org_id", "year")),
    ):
        for column in columns:
            op.drop_index(f"ix_{table}_{column}", table_name=table)
        op.drop_table(table)
