"""Shared set-up for the benchmark scripts: each runs in a dedicated PostgreSQL database.

``configure("products")`` points Django at ``bench_products`` (unless DATABASE_URL is set)
with its own VAR_DIR; ``ensure_database`` creates that database if it is missing and refuses
to run in a database that could hold real or test data.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def configure(name: str) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", f"postgresql://postgres@127.0.0.1:5432/bench_{name}")
    os.environ.setdefault("VAR_DIR", str(ROOT / "var" / f"bench-{name}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings_test")


def ensure_database(url: str) -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    if "postgresql" not in cfg["ENGINE"]:
        sys.exit("The benchmark needs PostgreSQL (DATABASE_URL=postgresql://…).")
    name = cfg["NAME"]
    if name in {"clinic", "postgres", "test"}:
        sys.exit(f"Refusing to benchmark in database {name!r}; use a dedicated one such as bench_products.")
    conninfo = {
        "host": cfg["HOST"] or "127.0.0.1",
        "port": cfg["PORT"] or 5432,
        "user": cfg["USER"] or "postgres",
    }
    if cfg.get("PASSWORD"):
        conninfo["password"] = cfg["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
