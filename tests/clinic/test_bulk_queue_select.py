"""notifications_bulk_queue_select: outbox rows written in one INSERT … SELECT from a queryset."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat

from clinic.models import Location, Notification
from clinic.notifications import NotificationKind, notifications_bulk_queue_select
from tests.treatments.factories import at

pytestmark = pytest.mark.django_db

NOW = at(dt.date(2026, 3, 10), 10)


def columns(**overrides):
    data = {
        "channel": Value("email"),
        "to_address": Concat(F("code"), Value("@clinic.example")),
        "location_id": F("pk"),
        "subject": Value("Hello"),
        "body": Value("Text"),
        "html_body": Value(""),
        "dedupe_key": Concat(Value("test:location:"), Cast("pk", CharField())),
        "regarding": Value(""),
    }
    data.update(overrides)
    return data


def test_one_row_per_source_row_with_the_models_defaults(location, other_location, django_assert_num_queries):
    with django_assert_num_queries(1):
        written = notifications_bulk_queue_select(
            kind=NotificationKind.DOCUMENT_EXPIRY,
            source=Location.objects.all(),
            columns=columns(),
            due_at=NOW,
        )
    assert written == 2
    row = Notification.objects.get(dedupe_key=f"test:location:{location.pk}")
    assert (row.kind, row.channel, row.to_address, row.location_id) == (
        NotificationKind.DOCUMENT_EXPIRY,
        "email",
        f"{location.code}@clinic.example",
        location.pk,
    )
    assert row.status == "pending" and row.attempts == 0 and row.due_at == NOW and not row.quiet_hours
    assert row.recipient_user_id is None and row.sent_at is None and row.created_at is not None


def test_existing_dedupe_keys_are_skipped_and_not_counted(location, other_location):
    args = {"kind": NotificationKind.DOCUMENT_EXPIRY, "columns": columns(), "due_at": NOW}
    assert notifications_bulk_queue_select(source=Location.objects.filter(pk=location.pk), **args) == 1
    assert notifications_bulk_queue_select(source=Location.objects.all(), **args) == 1
    assert Notification.objects.count() == 2


def test_patient_messages_leave_quiet_hours_and_long_values_are_cut(location):
    notifications_bulk_queue_select(
        kind=NotificationKind.DOCUMENT_EXPIRY,
        source=Location.objects.all(),
        columns=columns(subject=Value("s" * 300), dedupe_key=Value("k" * 300)),
        due_at=at(dt.date(2026, 3, 10), 22),
        quiet_hours=True,
    )
    [row] = Notification.objects.all()
    assert len(row.subject) == 200 and len(row.dedupe_key) == 200
    assert row.quiet_hours and row.due_at == at(dt.date(2026, 3, 11), 8)


def test_an_unknown_kind_or_missing_columns_are_refused(location):
    with pytest.raises(ValueError, match="Unknown kind"):
        notifications_bulk_queue_select(
            kind="made.up", source=Location.objects.all(), columns=columns(), due_at=NOW
        )
    partial = columns()
    del partial["regarding"]
    with pytest.raises(ValueError, match="columns must be exactly"):
        notifications_bulk_queue_select(
            kind=NotificationKind.DOCUMENT_EXPIRY, source=Location.objects.all(), columns=partial, due_at=NOW
        )
    assert not Notification.objects.exists()
