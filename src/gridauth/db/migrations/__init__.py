"""Alembic migration scripts of the state database, shipped in the package (see ``db/schema.py``)."""
