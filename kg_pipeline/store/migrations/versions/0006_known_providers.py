"""Known providers in a table of their own instead of CHECK constraints, so that a provider added
to the registry (kg_pipeline/providers/registry.py) needs no migration: ``migrate`` adds its
name to ``providers``, and the foreign keys of ``ai_extraction_config.provider`` and
``routing_rules.target_provider`` refuse any name not there, as the CHECK constraints did.

SQLite cannot alter a constraint in place: batch mode copies each table into a new one (its
named CHECK constraints and the partial unique index come along).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The providers the CHECK constraints allowed, as of the previous revision; the downgrade
# allows these again (a row naming a later provider must be removed first).
PROVIDERS = ("ollama", "vllm", "openai_compatible", "llamacpp", "openai", "anthropic")
# (table, column, CHECK constraint replaced)
REFERENCES = (
    ("ai_extraction_config", "provider", "ck_provider"),
    ("routing_rules", "target_provider", "ck_target_provider"),
)


def upgrade() -> None:
    providers = op.create_table("providers", sa.Column("name", sa.String(32), primary_key=True))
    op.bulk_insert(providers, [{"name": name} for name in PROVIDERS])
    for table, column, check in REFERENCES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(check, type_="check")
            batch.create_foreign_key(f"fk_{table}_{column}", "providers", [column], ["name"])


def downgrade() -> None:
    quoted = ", ".join(f"'{p}'" for p in PROVIDERS)
    for table, column, check in REFERENCES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_{column}", type_="foreignkey")
            batch.create_check_constraint(check, f"{column} IN ({quoted})")
    op.drop_table("providers")
