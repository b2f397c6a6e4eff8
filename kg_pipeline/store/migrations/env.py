"""Alembic environment: migrations run on the connection the caller opened (see
``kg_pipeline.store.database.migrate``), or on ``KG_DATABASE_URL`` when run from the alembic
command line."""

import sqlalchemy as sa
from alembic import context

from kg_pipeline.store.database import database_url, metadata

given = context.config.attributes.get("connection")

if given is None:
    with sa.create_engine(database_url()).begin() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        context.run_migrations()
else:
    context.configure(connection=given, target_metadata=metadata)
    context.run_migrations()
