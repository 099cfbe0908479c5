"""Settings for the beats that tests/clinic/test_single_beat.py starts: one entry every second,
sent to the test's own queue (BEAT_TEST_QUEUE), under the test's own Redis key prefix."""

from __future__ import annotations

import os

from clinic.settings_test import *  # noqa: F403

CELERY_BEAT_SCHEDULE = {
    "tick": {"task": "clinic.tasks.worker_heartbeat", "schedule": 1.0, "args": ["single-beat-test"]},
}
CELERY_TASK_DEFAULT_QUEUE = os.environ["BEAT_TEST_QUEUE"]
