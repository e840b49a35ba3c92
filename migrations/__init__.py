"""Alembic migrations for the micropop database."""
