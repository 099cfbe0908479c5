"""Settings for the test suite: the production settings with a test key and fast hashing.

DATABASE_URL still decides the database, so the same suite runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("HTTPS", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from clinic.settings import *  # noqa: F403
from clinic.settings import STATIC_ROOT, STORAGES

STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Argon2 is deliberately slow; tests create hundreds of users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Several test runs on one machine (parallel work) each need their own test database:
# TEST_DB_NAME names it on PostgreSQL; on SQLite a different VAR_DIR does the same.
if os.environ.get("TEST_DB_NAME"):
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ["TEST_DB_NAME"]  # noqa: F405
