"""Settings come from the environment and fail loudly on bad values."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from clinic.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def run_manage(env_overrides: dict, *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "HTTPS",
            "DJANGO_SETTINGS_MODULE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "clinic.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_env_bool_rejects_a_malformed_value(monkeypatch):
    monkeypatch.setenv("X_FLAG", "perhaps")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='perhaps' is not a boolean"):
        env_bool("X_FLAG", False)


def test_env_int_rejects_text_and_values_below_minimum(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("X_NUM", 1, minimum=1)


def test_env_list_rejects_empty_items(monkeypatch):
    monkeypatch.setenv("X_LIST", "a,,b")
    with pytest.raises(ImproperlyConfigured, match="empty item"):
        env_list("X_LIST", [])


def test_missing_secret_key_stops_start_up_when_debug_is_off():
    result = run_manage({"DEBUG": "false"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_malformed_database_url_stops_start_up():
    result = run_manage({"DEBUG": "true", "DATABASE_URL": "nonsense://"}, "check")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_malformed_idle_timeout_stops_start_up():
    result = run_manage({"DEBUG": "true", "SESSION_IDLE_TIMEOUT_MINUTES": "half an hour"}, "check")
    assert result.returncode != 0
    assert "SESSION_IDLE_TIMEOUT_MINUTES='half an hour' is not a whole number" in result.stderr


def test_an_unknown_phone_region_stops_start_up():
    result = run_manage({"DEBUG": "true", "PHONE_REGION": "UK"}, "check")  # GB is the code
    assert result.returncode != 0
    assert "PHONE_REGION='UK' is not a region phone numbers are known for" in result.stderr


def test_deploy_check_is_clean_with_production_values():
    result = run_manage(
        {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "clinic.example.com",
            "DATABASE_URL": "postgresql://clinic@db.example.com:5432/clinic",
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_argon2_is_the_first_password_hasher():
    import clinic.settings as base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_cookies_are_http_only_and_same_site(settings):
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.CSRF_COOKIE_HTTPONLY is True


def test_private_files_have_no_public_url():
    from django.core.files.storage import default_storage, storages

    for storage in (default_storage, storages["private"]):
        with pytest.raises(NotImplementedError):
            storage.url("photos/secret.jpg")


def test_the_deploy_check_warns_when_the_database_is_sqlite():
    result = run_manage(
        {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "clinic.example.com",
            "DATABASE_URL": "sqlite:///var/prod.sqlite3",
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode != 0
    assert "clinic.W001" in result.stdout + result.stderr and "SQLite" in result.stdout + result.stderr


def test_a_stale_claim_shorter_than_a_live_send_stops_start_up():
    result = run_manage({"DEBUG": "true", "OUTBOX_STALE_CLAIM_MINUTES": "1", "EMAIL_TIMEOUT": "20"}, "check")
    assert result.returncode != 0
    assert "OUTBOX_STALE_CLAIM_MINUTES=1 is too short for EMAIL_TIMEOUT=20s" in result.stderr
