"""Alembic's entry point: migrate the connection that ``Database.migrate`` hands over.

There is no ``alembic.ini``: the app runs the migrations itself at start-up. To write a new
revision during development::

    python -c "from alembic.config import Config; from alembic import command; \
c = Config(); c.set_main_option('script_location', 'src/baton/annotation/migrations'); \
c.set_main_option('sqlalchemy.url', 'sqlite:///dev.db'); command.revision(c, 'what changed', autogenerate=True)"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from baton.annotation.models import Base

target_metadata = Base.metadata


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:  # the alembic command line, with sqlalchemy.url set
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as own_connection:
        run_migrations(own_connection)
