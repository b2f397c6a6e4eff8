"""Cost and latency per provider/model per run, for `kg admin extraction analytics`.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "extraction_analytics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("valid_chunks", sa.Integer, nullable=False),
        sa.Column("model_calls", sa.Integer, nullable=False),
        sa.Column("cached_chunks", sa.Integer, nullable=False),
        sa.Column("fallbacks", sa.Integer, nullable=False),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Numeric(12, 6), nullable=False),
        sa.Column("gpu_hours", sa.Float, nullable=False),
        sa.Column("latency_mean_seconds", sa.Float, nullable=True),
        sa.Column("latency_p95_seconds", sa.Float, nullable=True),
        sa.Column("success_rate", sa.Float, nullable=False),
    )
    op.create_index("ix_extraction_analytics_recorded_at", "extraction_analytics", ["recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_extraction_analytics_recorded_at", "extraction_analytics")
    op.drop_table("extraction_analytics")
