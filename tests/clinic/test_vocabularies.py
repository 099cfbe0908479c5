"""Audit actions and notification kinds are spelled once, as ``AuditAction`` and
``NotificationKind`` members: never as bare strings in the apps, so a typo cannot file rows
where no filter (or per-kind rule) finds them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from clinic.audit import AuditAction
from clinic.notifications import NotificationKind

ROOT = Path(__file__).resolve().parents[2]
APPS = ("clinic", "products", "treatments")
# Where each vocabulary is defined: the only place its values may be written out.
DEFINITIONS = {
    AuditAction: ROOT / "clinic" / "audit.py",
    NotificationKind: ROOT / "clinic" / "notifications" / "kinds.py",
}


def _app_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _string_constants(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node


@pytest.mark.parametrize("vocabulary", list(DEFINITIONS), ids=lambda v: v.__name__)
def test_no_app_module_spells_a_member_as_a_bare_string(vocabulary):
    values = set(vocabulary.values)
    bare = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for path in _app_modules()
        if path != DEFINITIONS[vocabulary]
        for node in _string_constants(path)
        if node.value in values
    ]
    assert bare == [], f"use {vocabulary.__name__} members instead of: {bare}"


def test_the_scan_sees_the_services_it_guards():
    # If the walk found no modules (a moved folder), the test above would pass on nothing.
    names = {path.relative_to(ROOT).as_posix() for path in _app_modules()}
    assert {"products/services/stock.py", "treatments/services/sessions.py", "clinic/services.py"} <= names


@pytest.mark.parametrize("vocabulary", list(DEFINITIONS), ids=lambda v: v.__name__)
def test_every_member_has_a_distinct_value_and_a_label(vocabulary):
    assert len(set(vocabulary.values)) == len(vocabulary)
    assert all(label and label[0].isupper() for label in vocabulary.labels)
    assert all(value.count(".") == 1 for value in vocabulary.values)


def test_the_two_vocabularies_do_not_share_a_value():
    # Both are filtered by prefix on their pages; one value meaning two things would confuse.
    assert not set(AuditAction.values) & set(NotificationKind.values)
