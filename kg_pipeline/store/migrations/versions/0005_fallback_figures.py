"""Fallback figures per provider/model per run: how many chunks asked the model first, how many
of them its endpoint's fallback answered instead, and the seconds the failed attempts added.

Rows recorded before this revision get 0 chunks asked and no seconds: their fallback rate reads
"n/a", not 0 %.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    ("asked_chunks", sa.Integer, "0"),
    ("fell_back_chunks", sa.Integer, "0"),
    ("fallback_added_mean_seconds", sa.Float, None),
    ("fallback_added_p95_seconds", sa.Float, None),
)


def upgrade() -> None:
    for name, kind, default in COLUMNS:
        op.add_column(
            "extraction_analytics",
            sa.Column(name, kind, nullable=default is None, server_default=default),
        )


def downgrade() -> None:
    with op.batch_alter_table("extraction_analytics") as batch:
        for name, _, _ in reversed(COLUMNS):
            batch.drop_column(name)
