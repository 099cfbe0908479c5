"""Placeholder until the injection-map module lands (parse_map_points)."""

from __future__ import annotations


def parse_map_points(raw: str) -> list:
    return []
