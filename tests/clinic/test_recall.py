"""Recall: who was treated with a lot, the recall action, and messages held until reviewed."""

from __future__ import annotations

import csv
import io

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind, notification_send, outbox_due_ids
from clinic.reports.services import lot_recall_prepare
from clinic.roles import PRACTITIONER
from products.models import Lot, MovementKind, StockMovement
from products.services import stock_transfer
from tests.factories import staff
from tests.products.factories import StorageUnitFactory
from tests.treatments.factories import PatientFactory, chart, charting_lot, line_input, ready_session
from treatments.models import Patient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_quiet_hours(settings):
    """Messages may go at any hour in these tests (quiet hours are tested in the outbox tests)."""
    settings.QUIET_HOURS_START = 24
    settings.QUIET_HOURS_END = 0


@pytest.fixture
def recall_world(location, other_location, manager, other_manager, practitioner):
    """Lot R-1 at Marylebone given to Ann (email) and Ben (SMS) there, then, while lent to
    Manchester, to Cara there; back at Marylebone with 6 vials left. A second lot of the
    same product was given to Dan."""
    lot = charting_lot(location, quantity=10, name="Exo Renew")
    Lot.objects.filter(pk=lot.pk).update(lot_number="R-1")
    lot.refresh_from_db()
    ann = PatientFactory(
        location=location,
        first_name="Ann",
        last_name="Archer",
        email="ann@example.com",
        reminder_channel="email",
    )
    ben = PatientFactory(
        location=location,
        first_name="Ben",
        last_name="Baker",
        email="",
        phone="+441134960123",
        reminder_channel="sms",
    )
    chart(ready_session(ann, practitioner), practitioner, line_input(lot))
    chart(ready_session(ben, practitioner), practitioner, line_input(lot, vials=2, route="topical"))
    home = lot.storage_unit
    away = StorageUnitFactory(location=other_location, name="Manchester fridge")
    prac_mcr = staff(PRACTITIONER, other_location, username="prac_mcr")
    stock_transfer(lot=lot, to_unit=away, actor=manager)
    cara = PatientFactory(
        location=other_location,
        first_name="Cara",
        last_name="Cole",
        email="cara@example.com",
        reminder_channel="email",
    )
    chart(ready_session(cara, prac_mcr), prac_mcr, line_input(Lot.objects.get(pk=lot.pk)))
    stock_transfer(lot=Lot.objects.get(pk=lot.pk), to_unit=home, actor=other_manager)
    from tests.products.factories import make_lot
    from tests.treatments.factories import clear_for_use

    other_lot = clear_for_use(make_lot(unit=home, product=lot.product, quantity=3, lot_number="R-2"))
    dan = PatientFactory(location=location, first_name="Dan", last_name="Dunn", email="dan@example.com")
    chart(ready_session(dan, practitioner), practitioner, line_input(other_lot))
    return {
        "lot": Lot.objects.get(pk=lot.pk),
        "other_lot": other_lot,
        "ann": ann,
        "ben": ben,
        "cara": cara,
        "dan": dan,
    }


def _csv(response) -> list[list[str]]:
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def _run(client, lot, reason="Manufacturer recall notice MR-77"):
    return client.post(f"/clinic/reports/recall/lots/{lot.pk}/recall/", {"reason": reason, "confirm": "on"})


# --- The list -------------------------------------------------------------------------------------


def test_recall_list_shows_every_patient_treated_at_the_managers_locations(recall_world, client_for, manager):
    lot = recall_world["lot"]
    response = client_for(manager).get(f"/clinic/reports/recall/lots/{lot.pk}/")
    assert response.status_code == 200
    lines = response.context["page"].object_list
    assert {line["patient"] for line in lines} == {"Ann Archer", "Ben Baker"}
    ben = next(line for line in lines if line["patient"] == "Ben Baker")
    assert ben["amount"] == "2 vials (10.00 mL)"
    assert ben["route_label"] == "Topical via open microchannels"
    assert ben["practitioner"] == "Priya Shah"
    assert ben["patient_phone"] == "+441134960123"
    assert response.context["counts"] == {"lines": 2, "patients": 2, "elsewhere": 1}
    assert response.context["elsewhere"] == 1  # Cara, treated in Manchester
    html = response.content.decode()
    assert f"/treatments/patients/{recall_world['ann'].pk}/timeline/" in html
    assert "ann@example.com" in html and "Cara" not in html
    assert '<a class="text-nowrap" href="tel:+441134960123">0113 496 0123</a>' in html


def test_recall_export_streams_the_list(recall_world, client_for, manager):
    lot = recall_world["lot"]
    rows = _csv(client_for(manager).get(f"/clinic/reports/recall/lots/{lot.pk}/export.csv"))
    assert rows[0][:7] == [
        "session_date",
        "location",
        "patient",
        "date_of_birth",
        "phone",
        "email",
        "practitioner",
    ]
    assert sorted(r[2] for r in rows[1:]) == ["Ann Archer", "Ben Baker"]
    ann = next(r for r in rows[1:] if r[2] == "Ann Archer")
    assert ann[5] == "ann@example.com" and ann[8] == "R-1" and ann[9] == "1 vial (5.00 mL)"
    ben = next(r for r in rows[1:] if r[2] == "Ben Baker")
    assert ben[4] == "0113 496 0123"  # nationally: "+44…" would be read as a formula
    assert AuditEvent.objects.filter(action="recall.export", object_id=str(lot.pk), actor=manager).exists()


def test_product_and_period_search_lists_every_lot_of_the_product(recall_world, client_for, manager):
    lot = recall_world["lot"]
    today = timezone.localdate().isoformat()
    query = f"product={lot.product_id}&date_from={today}&date_to={today}"
    response = client_for(manager).get(f"/clinic/reports/recall/?{query}")
    assert response.status_code == 200
    assert {line["patient"] for line in response.context["page"].object_list} == {
        "Ann Archer",
        "Ben Baker",
        "Dan Dunn",
    }
    rows = _csv(client_for(manager).get(f"/clinic/reports/recall/export.csv?{query}"))
    assert sorted(r[8] for r in rows[1:]) == ["R-1", "R-1", "R-2"]


def test_finding_a_lot_by_number_lists_only_lots_at_the_managers_locations(recall_world, client_for, manager):
    response = client_for(manager).get("/clinic/reports/recall/?lot=R-")
    assert {lot.lot_number for lot in response.context["lots"]} == {"R-1", "R-2"}


def test_recall_list_query_count_does_not_grow(
    recall_world, client_for, manager, practitioner, django_assert_num_queries
):
    lot = recall_world["lot"]
    url = f"/clinic/reports/recall/lots/{lot.pk}/"
    client = client_for(manager)
    # PostgreSQL runs one statement more: index_friendly_plans' SET LOCAL random_page_cost.
    queries = 11 + (connection.vendor == "postgresql")
    client.get(url)
    with django_assert_num_queries(queries, info="the recall world's patients"):
        client.get(url)
    for _ in range(3):
        patient = PatientFactory(location=lot.storage_unit.location)
        chart(ready_session(patient, practitioner), practitioner, line_input(Lot.objects.get(pk=lot.pk)))
    with django_assert_num_queries(queries, info="three more patients treated from the lot"):
        client.get(url)


# --- The action: recall and prepare, nothing sent -------------------------------------------------


def test_recall_marks_the_lot_recalled_through_the_ledger_and_holds_a_message_per_patient(
    recall_world, client_for, manager
):
    lot = recall_world["lot"]
    response = _run(client_for(manager), lot)
    assert response.status_code == 302 and response["Location"].endswith(f"/recall/lots/{lot.pk}/messages/")
    lot.refresh_from_db()
    assert lot.is_recalled and lot.status == "recalled" and lot.quantity_on_hand == 6
    assert not Lot.objects.usable().filter(pk=lot.pk).exists()
    assert StockMovement.objects.filter(lot=lot, kind=MovementKind.RECALL, actor=manager).count() == 1
    held = Notification.objects.filter(kind=NotificationKind.RECALL_PATIENT)
    # Every patient treated with the lot, at any location; none for the other lot's patient.
    assert {(n.to_address, n.channel, n.status) for n in held} == {
        ("ann@example.com", "email", "held"),
        ("+441134960123", "sms", "held"),
        ("cara@example.com", "email", "held"),
    }
    assert {n.location_id for n in held if n.to_address == "cara@example.com"} == {
        recall_world["cara"].location_id
    }
    # Nothing goes out until reviewed: the sweep does not see them, a worker cannot claim them.
    assert not set(outbox_due_ids()) & set(held.values_list("pk", flat=True))
    assert all(notification_send(notification_id=n.pk) == "not-claimed" for n in held)
    assert mail.outbox == []
    assert AuditEvent.objects.filter(action="recall.prepare", object_id=str(lot.pk)).exists()
    assert AuditEvent.objects.filter(action="lot.recall", object_id=str(lot.pk)).exists()


def test_the_message_says_nothing_clinical(recall_world, client_for, manager):
    lot = recall_world["lot"]
    _run(client_for(manager), lot)
    for n in Notification.objects.filter(kind=NotificationKind.RECALL_PATIENT):
        text = f"{n.subject}\n{n.body}".lower()
        assert "contact" in text or "call" in text
        for secret in ("exo renew", "r-1", "lot", "recall", "intradermal", "topical", "injection"):
            assert secret not in text, secret
    ann = Notification.objects.get(to_address="ann@example.com")
    assert ann.body.startswith("Hello Ann,") and "call us on 020 7946 0000." in ann.body  # shown nationally


def test_recalling_again_only_adds_patients_treated_since(recall_world, manager):
    lot = recall_world["lot"]
    first = lot_recall_prepare(lot=lot, actor=manager, reason="MR-77")
    second = lot_recall_prepare(lot=Lot.objects.get(pk=lot.pk), actor=manager, reason="MR-77")
    assert (first["recalled_now"], first["prepared"]) == (True, 3)
    assert (second["recalled_now"], second["prepared"], second["already_prepared"]) == (False, 0, 3)
    assert StockMovement.objects.filter(lot=lot, kind=MovementKind.RECALL).count() == 1


def test_a_patient_without_address_is_reported_not_messaged(recall_world, manager, practitioner):
    lot = recall_world["lot"]
    nobody = PatientFactory(location=lot.storage_unit.location, email="", phone="")
    chart(ready_session(nobody, practitioner), practitioner, line_input(lot))
    result = lot_recall_prepare(lot=Lot.objects.get(pk=lot.pk), actor=manager, reason="MR-77")
    assert result["unreachable"] == [nobody.pk]
    assert Notification.objects.filter(kind=NotificationKind.RECALL_PATIENT).count() == 3


def test_a_number_kept_as_typed_is_no_sms_address_for_a_recall(recall_world, manager, practitioner):
    """Kept by the E.164 migration ("check this number"): email if there is one, else the patient
    is listed as unreachable so the desk calls or writes; never an SMS to the raw string."""
    lot = recall_world["lot"]
    where = lot.storage_unit.location
    by_email = PatientFactory(location=where, email="dee@example.com", reminder_channel="sms")
    nobody = PatientFactory(location=where, email="", reminder_channel="sms")
    Patient.objects.filter(pk__in=[by_email.pk, nobody.pk]).update(phone="call me maybe")
    for patient in (by_email, nobody):
        chart(ready_session(patient, practitioner), practitioner, line_input(lot))
    result = lot_recall_prepare(lot=Lot.objects.get(pk=lot.pk), actor=manager, reason="MR-77")
    assert result["unreachable"] == [nobody.pk]
    assert Notification.objects.get(to_address="dee@example.com").channel == "email"
    assert not Notification.objects.filter(to_address="call me maybe").exists()


def test_the_recall_needs_a_reason_and_the_confirmation(recall_world, client_for, manager):
    lot = recall_world["lot"]
    client = client_for(manager)
    client.post(f"/clinic/reports/recall/lots/{lot.pk}/recall/", {"reason": "MR-77"})
    client.post(f"/clinic/reports/recall/lots/{lot.pk}/recall/", {"reason": "", "confirm": "on"})
    lot.refresh_from_db()
    assert (
        not lot.is_recalled and not Notification.objects.filter(kind=NotificationKind.RECALL_PATIENT).exists()
    )


# --- Review, edit, cancel, send --------------------------------------------------------------------


def test_review_then_send_moves_messages_to_pending_and_the_worker_delivers_them(
    recall_world, client_for, manager
):
    lot = recall_world["lot"]
    client = client_for(manager)
    _run(client, lot)
    page = client.get(f"/clinic/reports/recall/lots/{lot.pk}/messages/")
    assert page.status_code == 200
    reviewed = {row["n"].to_address for row in page.context["rows"]}
    assert reviewed == {"ann@example.com", "+441134960123"}  # Cara's is for Manchester's managers
    ann = Notification.objects.get(to_address="ann@example.com")
    ben = Notification.objects.get(to_address="+441134960123")
    edited = client.post(
        f"/clinic/reports/recall/lots/{lot.pk}/messages/{ann.pk}/edit/",
        {f"m{ann.pk}-subject": "Please call us", f"m{ann.pk}-body": "Hello Ann, please call 020 7946 0000."},
    )
    assert edited.status_code == 302
    ann.refresh_from_db()
    assert (ann.subject, ann.status) == ("Please call us", "held")
    assert AuditEvent.objects.filter(action="notification.edit", object_id=str(ann.pk)).exists()
    client.post(f"/clinic/reports/recall/lots/{lot.pk}/messages/{ben.pk}/cancel/")
    ben.refresh_from_db()
    assert ben.status == "cancelled"
    sent = client.post(f"/clinic/reports/recall/lots/{lot.pk}/messages/send/")
    assert sent.status_code == 302
    ann.refresh_from_db()
    assert ann.status == "pending" and ann.pk in outbox_due_ids()
    assert Notification.objects.get(to_address="cara@example.com").status == "held"
    assert AuditEvent.objects.filter(action="notification.release").exists()
    assert notification_send(notification_id=ann.pk) == "sent"
    assert [m.subject for m in mail.outbox] == ["Please call us"]
    assert mail.outbox[0].to == ["ann@example.com"]


def test_the_other_locations_manager_reviews_their_patients_messages(
    recall_world, client_for, manager, other_manager
):
    lot = recall_world["lot"]
    lot_recall_prepare(lot=lot, actor=manager, reason="MR-77")
    client = client_for(other_manager)
    assert client.get(f"/clinic/reports/recall/lots/{lot.pk}/").status_code == 404  # the lot is not theirs
    page = client.get(f"/clinic/reports/recall/lots/{lot.pk}/messages/")
    assert page.status_code == 200
    assert [row["n"].to_address for row in page.context["rows"]] == ["cara@example.com"]
    index = client.get("/clinic/reports/recall/")
    assert [a["n"] for a in index.context["awaiting"]] == [1]
    client.post(f"/clinic/reports/recall/lots/{lot.pk}/messages/send/")
    assert Notification.objects.get(to_address="cara@example.com").status == "pending"
    assert Notification.objects.get(to_address="ann@example.com").status == "held"


def test_a_message_of_another_location_cannot_be_edited_or_cancelled(recall_world, client_for, manager):
    lot = recall_world["lot"]
    lot_recall_prepare(lot=lot, actor=manager, reason="MR-77")
    cara = Notification.objects.get(to_address="cara@example.com")
    client = client_for(manager)
    base = f"/clinic/reports/recall/lots/{lot.pk}/messages/{cara.pk}"
    assert client.post(f"{base}/cancel/").status_code == 404
    assert (
        client.post(f"{base}/edit/", {f"m{cara.pk}-subject": "x", f"m{cara.pk}-body": "y"}).status_code == 404
    )
    cara.refresh_from_db()
    assert cara.status == "held"


def test_review_page_and_recall_index_query_counts_are_fixed(
    recall_world, client_for, manager, django_assert_num_queries
):
    lot = recall_world["lot"]
    lot_recall_prepare(lot=lot, actor=manager, reason="MR-77")
    client = client_for(manager)
    urls = [f"/clinic/reports/recall/lots/{lot.pk}/messages/", "/clinic/reports/recall/?lot=R"]
    for url in urls:
        client.get(url)
        with django_assert_num_queries(10, info=url):
            assert client.get(url).status_code == 200
    # More held messages for this lot (as a recall of more patients would write), and a second
    # recall with its own messages.
    Notification.objects.bulk_create(
        Notification(
            kind=NotificationKind.RECALL_PATIENT, channel="email", to_address=f"more{i}@example.com",
            subject="s", body="b",
            dedupe_key=f"recall:{lot.pk}:patient:x{i}", status="held", location=lot.storage_unit.location,
        )
        for i in range(3)
    )  # fmt: skip
    lot_recall_prepare(lot=recall_world["other_lot"], actor=manager, reason="MR-78")
    assert Notification.objects.filter(kind=NotificationKind.RECALL_PATIENT, status="held").count() == 7
    for url in urls:
        with django_assert_num_queries(10, info=f"{url}, more messages and a second recall"):
            client.get(url)


# --- Roles, scope, methods ------------------------------------------------------------------------


def _urls(lot, message_pk=1):
    base = f"/clinic/reports/recall/lots/{lot.pk}"
    return {
        "get": [f"{base}/", f"{base}/export.csv", f"{base}/messages/"],
        "post": [
            f"{base}/recall/",
            f"{base}/messages/send/",
            f"{base}/messages/{message_pk}/edit/",
            f"{base}/messages/{message_pk}/cancel/",
        ],
    }


@pytest.mark.parametrize("role", ["front_desk", "practitioner"])
def test_front_desk_and_practitioners_cannot_reach_recall(recall_world, role, request, client_for):
    lot = recall_world["lot"]
    client = client_for(request.getfixturevalue(role))
    urls = _urls(lot)
    for url in urls["get"]:
        assert client.get(url).status_code == 403, url
    for url in urls["post"]:
        assert client.post(url, {"reason": "x", "confirm": "on"}).status_code == 403, url
    lot.refresh_from_db()
    assert not lot.is_recalled


def test_anonymous_users_are_sent_to_sign_in(recall_world, client):
    urls = _urls(recall_world["lot"])
    for url in urls["get"]:
        assert "/accounts/login/" in client.get(url)["Location"]
    for url in urls["post"]:
        assert "/accounts/login/" in client.post(url)["Location"]


def test_wrong_methods_are_refused(recall_world, client_for, manager):
    urls = _urls(recall_world["lot"])
    client = client_for(manager)
    for url in urls["get"]:
        assert client.post(url).status_code == 405, url
    for url in urls["post"]:
        assert client.get(url).status_code == 405, url


def test_a_lot_of_another_location_is_404(recall_world, other_location, client_for, manager, other_manager):
    from tests.products.factories import make_lot

    foreign = make_lot(unit=StorageUnitFactory(location=other_location), quantity=2, lot_number="X-9")
    urls = _urls(foreign)
    client = client_for(manager)
    for url in urls["get"]:
        assert client.get(url).status_code == 404, url
    for url in urls["post"]:
        assert client.post(url, {"reason": "x", "confirm": "on"}).status_code == 404, url
    foreign.refresh_from_db()
    assert not foreign.is_recalled


def test_the_lot_page_links_managers_to_the_recall_look_up(client_for, manager, location):
    from django.urls import reverse

    from products.models import StorageUnit
    from tests.products.factories import StorageUnitFactory, make_lot

    unit = StorageUnit.objects.filter(location=location).first() or StorageUnitFactory(location=location)
    lot = make_lot(unit=unit)
    page = client_for(manager).get(reverse("products:lot_detail", args=[lot.pk])).text
    assert reverse("reports:recall_lot", args=[lot.pk]) in page
    unit_page = client_for(manager).get(reverse("products:unit_detail", args=[unit.pk])).text
    assert f"{reverse('reports:coldchain')}?unit={unit.pk}" in unit_page
