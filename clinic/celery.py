"""The Celery application. Configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# celery-redbeat's settings as the library looks for them. It reads CELERY_REDBEAT_* through the
# namespace, but asks whether a key "is set" by its bare name: without these copies it warns that
# it falls back to the broker's URL (it does not) and drops the Redis client options we give it.
REDBEAT_SETTINGS = (
    "redbeat_redis_url",
    "redbeat_redis_options",
    "redbeat_key_prefix",
    "redbeat_lock_timeout",
)


@app.on_after_configure.connect
def _bare_redbeat_settings(sender: Celery, **kwargs: object) -> None:
    sender.conf.update({name: sender.conf.first(name) for name in REDBEAT_SETTINGS})
