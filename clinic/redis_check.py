"""`python -m clinic.redis_check`: exit 0 when Redis answers, else one clear line and exit 1."""

from __future__ import annotations

import os
import sys

import redis


def main() -> int:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception:
        print(
            f"Redis is not reachable at {url}: serving the site without the Celery worker and beat; "
            "reminders and alerts wait in the outbox until Redis is back."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
