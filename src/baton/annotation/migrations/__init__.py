"""Alembic migrations of the annotation database, run by :meth:`baton.annotation.db.Database.migrate`."""
