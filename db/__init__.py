"""Postgres: ORM models, the async engine and the named queries the API and activities use."""
