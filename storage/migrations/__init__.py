"""Alembic migrations for the bot's database, applied programmatically by ``Database.migrate()``."""
