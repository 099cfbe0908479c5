"""gunicorn's settings file, read from the working directory by every `gunicorn` started here
(the Procfile's web process, the production stack): the command line still sets bind, workers
and threads.

Prometheus' multiprocess mode: each worker writes its request metrics to files in
PROMETHEUS_MULTIPROC_DIR and /metrics sums them (clinic/metrics.py), so a scrape sees every
worker, not just the one that answered. The directory is emptied when gunicorn starts (stale
files would count old processes) and a worker's live gauges are dropped when it exits.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_default = Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parent / "var")) / "prometheus"
# Set here, in the master before any worker imports prometheus_client, so all workers inherit it.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_default))


def on_starting(server) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
