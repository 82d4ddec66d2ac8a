"""accounts: when their credentials expire

Tokens that end (X OAuth 2.0: two hours; LinkedIn: 60 days; Meta long-lived: 60 days)
are renewed ahead of their end where the network allows, and warned about where it does
not. `expires_at` is when the stored credentials stop working, when known;
`renewal_note` says why they cannot be renewed (a person must sign in again before then).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("renewal_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("renewal_note")
        batch_op.drop_column("expires_at")
