"""The one MetaData every table of the store is declared in: `Store` creates and migrates
by it, and Alembic's env (migrations/env.py) compares it with the migrations."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
