"""Run database calls at the same instant, each in its own thread and connection (race tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections


def at_once(*jobs: Callable[[], Any]) -> tuple[list[Any], list[ValidationError], list[BaseException]]:
    """Release every job together (a barrier); (results, refusals, unexpected errors).

    A ``ValidationError`` is the refusal a race test expects of the loser; anything else is a
    bug the test must show, so it is returned rather than lost in the thread."""
    start = threading.Barrier(len(jobs))
    results: list[Any] = []
    refusals: list[ValidationError] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def run(job: Callable[[], Any]) -> None:
        try:
            start.wait(timeout=10)
            result = job()
            with lock:
                results.append(result)
        except ValidationError as exc:
            with lock:
                refusals.append(exc)
        except BaseException as exc:
            with lock:
                unexpected.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, refusals, unexpected
