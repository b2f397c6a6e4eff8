"""The model configuration table, switchable at run time from `kg admin extraction`.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# As of this revision; from 0006 on, the known providers are the rows of a table of their own.
PROVIDERS = ("ollama", "vllm", "openai_compatible", "llamacpp", "openai", "anthropic")
THINKING_MODES = ("off", "low", "medium", "high")
PURPOSES = ("extraction", "baseline")


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=f"ck_{column}")


def upgrade() -> None:
    table = op.create_table(
        "ai_extraction_config",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("purpose", sa.String(32), nullable=False, server_default="extraction"),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("supports_vision", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("supports_json_mode", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("max_tokens", sa.Integer, nullable=True),
        sa.Column("temperature", sa.Float, nullable=False, server_default="0.1"),
        sa.Column("top_p", sa.Float, nullable=False, server_default="0.9"),
        sa.Column("gpu_layers", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("num_threads", sa.Integer, nullable=True),
        sa.Column("thinking_mode", sa.String(8), nullable=False, server_default="off"),
        sa.Column("max_concurrent_requests", sa.Integer, nullable=False, server_default="4"),
        sa.Column("max_retries", sa.Integer, nullable=False, server_default="3"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        _one_of("provider", PROVIDERS),
        _one_of("thinking_mode", THINKING_MODES),
        _one_of("purpose", PURPOSES),
        sa.CheckConstraint("temperature >= 0 AND temperature <= 1", name="ck_temperature"),
        sa.CheckConstraint("top_p >= 0 AND top_p <= 1", name="ck_top_p"),
        sa.CheckConstraint("gpu_layers >= -1", name="ck_gpu_layers"),
        sa.CheckConstraint("num_threads IS NULL OR num_threads >= 1", name="ck_num_threads"),
        sa.CheckConstraint("max_tokens IS NULL OR max_tokens >= 1", name="ck_max_tokens"),
        sa.CheckConstraint(
            "max_concurrent_requests >= 1 AND max_concurrent_requests <= 100",
            name="ck_max_concurrent_requests",
        ),
        sa.CheckConstraint("max_retries >= 0 AND max_retries <= 20", name="ck_max_retries"),
    )
    op.create_index(
        "uq_one_active_per_purpose",
        "ai_extraction_config",
        ["purpose"],
        unique=True,
        sqlite_where=table.c.active,
        postgresql_where=table.c.active,
    )


def downgrade() -> None:
    op.drop_index("uq_one_active_per_purpose", "ai_extraction_config")
    op.drop_table("ai_extraction_config")
