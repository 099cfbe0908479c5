"""Demo data for the treatments app, called by `manage.py seed_demo`. Must be idempotent."""

from __future__ import annotations


def seed(*, locations, users, stdout) -> None:
    return None


def seed_scale(*, n: int, locations, users, stdout) -> None:
    return None
