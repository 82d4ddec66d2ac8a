"""scheduling: imports, recurring series, posting slots, evergreen posts, occurrences

A post may now have several deliveries to one account (the occurrences of a recurring
post, the rounds of an evergreen one): the unique key of a delivery becomes (post,
account, occurrence). Imports get a row of their own whose state makes all their posts
visible at once; deliveries carry the fingerprint of their text for duplicate checks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index("ix_imports_sha256", "imports", ["sha256"], unique=False)
    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("starts_local", sa.String(length=32), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("account_ids", sa.JSON(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("planned_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_series_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint("post_id", name=op.f("uq_series_post_id")),
    )
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_slots_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slots")),
        sa.UniqueConstraint("account_id", name=op.f("uq_slots_account_id")),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("evergreen_every", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_posts_import_id"), ["import_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_posts_import_id_imports"), "imports", ["import_id"], ["id"]
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("occurrence", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("slotted", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.drop_constraint(op.f("uq_deliveries_post_id"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_deliveries_post_account_occurrence"), ["post_id", "account_id", "occurrence"]
        )
        batch_op.create_index(
            "ix_deliveries_account_fingerprint", ["account_id", "fingerprint"], unique=False
        )


def downgrade() -> None:
    op.execute(
        "DELETE FROM deliveries WHERE occurrence != 0"  # a schema without occurrences cannot hold them
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_account_fingerprint")
        batch_op.drop_constraint(op.f("uq_deliveries_post_account_occurrence"), type_="unique")
        batch_op.create_unique_constraint(op.f("uq_deliveries_post_id"), ["post_id", "account_id"])
        batch_op.drop_column("fingerprint")
        batch_op.drop_column("import_id")
        batch_op.drop_column("slotted")
        batch_op.drop_column("occurrence")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_posts_import_id_imports"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_posts_import_id"))
        batch_op.drop_column("evergreen_every")
        batch_op.drop_column("import_id")
    op.drop_table("slots")
    op.drop_table("series")
    op.drop_index("ix_imports_sha256", table_name="imports")
    op.drop_table("imports")
