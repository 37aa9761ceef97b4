"""How records are kept: SQLAlchemy tables, repositories, the unit of work on a database,
the outbox dispatcher, the engine and the Alembic migrations."""
