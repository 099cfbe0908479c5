"""Strict readers for settings that come from the environment.

A malformed value stops start-up with a message that names the variable and what was
expected, rather than being silently replaced by a default.
"""

from __future__ import annotations

import os
from typing import cast, overload

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_UNSET = object()


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


@overload
def env_str(name: str) -> str: ...
@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None) -> str | None: ...


def env_str(name: str, default: str | object | None = _UNSET) -> str | None:
    value = _raw(name)
    if value is not None:
        return value
    if default is _UNSET:
        raise ImproperlyConfigured(f"The environment variable {name} is required.")
    return cast("str | None", default)


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of: true, false, 1, 0, yes, no, on, off."
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name}={value!r} has an empty item; separate items with commas.")
    return items


def env_int_list(name: str, default: list[int], *, minimum: int | None = None) -> list[int]:
    """A comma-separated list of whole numbers, e.g. ``30,7,0``; returned largest first."""
    value = _raw(name)
    if value is None:
        return sorted(default, reverse=True)
    numbers: list[int] = []
    for item in value.split(","):
        item = item.strip()
        try:
            number = int(item)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}={value!r} must be whole numbers separated by commas, e.g. 30,7,0."
            ) from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}: {number} must be at least {minimum}.")
        numbers.append(number)
    if len(set(numbers)) != len(numbers):
        raise ImproperlyConfigured(f"{name}={value!r} repeats a number.")
    return sorted(numbers, reverse=True)
