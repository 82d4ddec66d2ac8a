"""tick indexes: every statement of a dispatcher tick is an index lookup

At a million stored deliveries a tick scanned the table: `mark_missed` filtered every
waiting delivery by its deadline, and the claim looked for each account's in-flight and
due deliveries among all of them. Two indexes make those lookups; with them a tick costs
the same at 10k and at 1M rows (bench/tick.py; the plans: tests/scheduler/test_plans.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_account_status_next", "deliveries", ["account_id", "status", "next_attempt_at"]
    )
    op.create_index("ix_deliveries_status_deadline", "deliveries", ["status", "deadline_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_status_deadline", table_name="deliveries")
    op.drop_index("ix_deliveries_account_status_next", table_name="deliveries")
