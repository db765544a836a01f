"""Database infrastructure: declarative base, engine factory, column types, Alembic migrations."""
