"""Storage: SQLAlchemy models, engine set-up and repositories."""
