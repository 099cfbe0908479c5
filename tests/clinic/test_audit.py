from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from clinic.audit import AuditAction, audit_record
from clinic.models import AuditEvent


@pytest.mark.django_db
def test_it_records_actor_object_and_values(manager, location):
    event = audit_record(
        actor=manager,
        action=AuditAction.STAFF_UPDATE,
        obj=location,
        before={"name": "Old"},
        after={"name": "New"},
    )
    event.refresh_from_db()
    assert event.actor == manager
    assert event.actor_name == "mgr"
    assert event.object_type == "clinic.location"
    assert event.object_id == str(location.pk)
    assert event.before == {"name": "Old"} and event.after == {"name": "New"}


@pytest.mark.django_db
def test_a_system_job_is_recorded_as_the_system():
    event = audit_record(
        actor=None, action=AuditAction.NOTIFICATION_CANCEL_STALE, object_type="products.lot", object_id="7"
    )
    assert event.actor is None and event.actor_name == "system"


@pytest.mark.django_db
def test_an_action_outside_the_vocabulary_is_refused(manager):
    with pytest.raises(ValueError, match="not a valid AuditAction"):
        audit_record(actor=manager, action="lot.recieve")
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_the_stored_action_is_the_plain_value(manager):
    event = audit_record(actor=manager, action=AuditAction.LOT_RECEIVE)
    event.refresh_from_db()
    assert event.action == "lot.receive" and type(event.action) is str
    assert AuditEvent.objects.filter(action="lot.receive").count() == 1


@pytest.mark.django_db
def test_the_model_refuses_update_and_delete(manager):
    event = audit_record(actor=manager, action=AuditAction.AUTH_LOGIN)
    event.action = "tampered"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


@pytest.mark.django_db
def test_a_request_stamps_its_id_and_address(client, manager):
    client.force_login(manager)
    client.post("/accounts/logout/", HTTP_X_REQUEST_ID="req-1234567890", REMOTE_ADDR="10.1.2.3")
    event = AuditEvent.objects.filter(action="auth.logout").get()
    assert event.request_id == "req-1234567890"
    assert event.ip_address == "10.1.2.3"


@pytest.mark.django_db
def test_failed_logins_are_audited(client, manager):
    client.post("/accounts/login/", {"username": "mgr", "password": "wrong-password"})
    assert AuditEvent.objects.filter(action="auth.login_failed", object_repr="mgr").exists()


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_rejects_update_and_delete_on_the_audit_table(manager):
    event = audit_record(actor=manager, action=AuditAction.AUTH_LOGIN)
    for statement in (
        "UPDATE clinic_auditevent SET action = 'tampered' WHERE id = %s",
        "DELETE FROM clinic_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cur,
        ):
            cur.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "auth.login"
