"""Multi-model routing rules, managed with `kg admin routing`.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# As of this revision; from 0006 on, the known providers are the rows of a table of their own.
PROVIDERS = ("ollama", "vllm", "openai_compatible", "llamacpp", "openai", "anthropic")


def upgrade() -> None:
    quoted = ", ".join(f"'{p}'" for p in PROVIDERS)
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule_name", sa.String(100), nullable=False, unique=True),
        sa.Column("condition", sa.Text, nullable=False),
        sa.Column("target_provider", sa.String(32), nullable=False),
        sa.Column("target_model", sa.String(200), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.CheckConstraint(f"target_provider IN ({quoted})", name="ck_target_provider"),
        sa.CheckConstraint("priority >= 0", name="ck_priority"),
    )


def downgrade() -> None:
    op.drop_table("routing_rules")
