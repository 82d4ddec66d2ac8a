"""deliveries: `reconciling` is a status; the `needs_lookup` flag goes; attempts.kind

A delivery waiting for its lookup was `scheduled` (or `queued`) with `needs_lookup`
set. It becomes `unknown` with its lookup due at once: the dispatcher claims it into
`reconciling` like any other, and the transition table now refuses cancel, reschedule
and removal for it by itself. A lookup is an attempt of its own (`kind = 'lookup'`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD = (
    "status IN ('scheduled', 'queued', 'publishing', 'published', 'retry_wait', "
    "'failed', 'unknown', 'cancelled', 'missed')"
)
NEW = (
    "status IN ('scheduled', 'queued', 'publishing', 'published', 'retry_wait', "
    "'failed', 'unknown', 'reconciling', 'cancelled', 'missed')"
)


def upgrade() -> None:
    op.execute(
        "UPDATE deliveries SET status = 'unknown', reconcile_at = next_attempt_at, queued_at = NULL "
        "WHERE needs_lookup AND status IN ('scheduled', 'queued', 'retry_wait')"
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_deliveries_status_known"), type_="check")
        batch_op.create_check_constraint("status_known", sa.text(NEW))
        batch_op.drop_column("needs_lookup")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="publish"))


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("kind")
    op.execute(
        "UPDATE deliveries SET status = 'unknown', claim_token = NULL, lease_until = NULL "
        "WHERE status = 'reconciling'"
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("needs_lookup", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.drop_constraint(op.f("ck_deliveries_status_known"), type_="check")
        batch_op.create_check_constraint("status_known", sa.text(OLD))
