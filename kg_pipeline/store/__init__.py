"""The project's own database: SQLite by default, PostgreSQL when KG_DATABASE_URL says so."""
