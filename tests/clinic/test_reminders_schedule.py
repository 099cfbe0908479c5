"""The beat schedule and the reminder settings."""

from __future__ import annotations

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from clinic.env import env_int_list


def test_every_scheduled_task_exists():
    from clinic.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
        assert "options" not in entry or "countdown" not in entry["options"]


def test_the_sweeps_run_at_clinic_times():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["outbox-sweep"]["schedule"] == 60.0
    assert schedule["alerts-excursions"]["schedule"] == 60.0
    maintenance = schedule["reminders-maintenance"]["schedule"]
    assert isinstance(maintenance, crontab)
    # Patient messages go out after quiet hours end, in the clinic's time zone.
    assert min(maintenance.hour) >= settings.QUIET_HOURS_END
    assert settings.CELERY_TIMEZONE == settings.TIME_ZONE


def test_int_lists_are_parsed_strictly(monkeypatch):
    monkeypatch.setenv("X_DAYS", "7, 30,0")
    assert env_int_list("X_DAYS", [1]) == [30, 7, 0]
    monkeypatch.delenv("X_DAYS")
    assert env_int_list("X_DAYS", [7, 30]) == [30, 7]
    for bad in ("30,x", "30,,7", "30,30", "-1"):
        monkeypatch.setenv("X_DAYS", bad)
        with pytest.raises(ImproperlyConfigured, match="X_DAYS"):
            env_int_list("X_DAYS", [1], minimum=0)


def test_bad_reminder_settings_stop_start_up():
    import subprocess
    import sys

    for name, value in [
        ("MAINTENANCE_REMINDER_DAYS_BEFORE", "0"),
        ("APPOINTMENT_REMINDER_HOURS", "a day"),
        ("PRODUCT_EXPIRY_ALERT_DAYS", "30;7"),
        ("SITE_URL", "clinic.example"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", "import clinic.settings"],
            env={"DEBUG": "true", name: value, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0 and name in result.stderr, name
