"""Dashboard, health, audit trail, outbox, alerts and staff pages: roles, scope, methods."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import get_user_model

from clinic.audit import AuditAction, audit_record
from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind, notification_queue
from clinic.roles import FRONT_DESK, PRACTITIONER
from tests.factories import UserFactory, staff

pytestmark = pytest.mark.django_db


class TestDashboard:
    @pytest.mark.parametrize(
        ("fixture", "heading"),
        [
            ("front_desk", "Today at the front desk"),
            ("practitioner", "My day"),
            ("manager", "Stock and compliance"),
        ],
    )
    def test_each_role_lands_on_its_own_dashboard(self, request, client_for, fixture, heading):
        response = client_for(request.getfixturevalue(fixture)).get("/")
        assert response.status_code == 200
        assert heading in response.text

    def test_it_redirects_anonymous_users_to_login(self, client):
        response = client.get("/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")

    def test_a_user_without_a_role_gets_403(self, client_for):
        assert client_for(UserFactory()).get("/").status_code == 403

    def test_it_rejects_post(self, client_for, manager):
        assert client_for(manager).post("/").status_code == 405

    def test_the_navigation_shows_what_the_role_may_use(self, client_for, front_desk, manager, client):
        assert "Audit trail" not in client_for(front_desk).get("/").text
        client.logout()
        assert "Audit trail" in client_for(manager).get("/").text


class TestHealthz:
    def test_it_reports_database_and_redis_to_signed_in_staff(self, client_for, manager):
        response = client_for(manager).get("/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["database"] == "ok"
        assert body["redis"] in {"ok", "unreachable"}
        assert "worker" in body

    def test_anonymous_callers_learn_only_up_or_down(self, client):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert set(response.json()) == {"status"} and response.json()["status"] in {"ok", "degraded"}

    def test_it_answers_503_when_the_database_is_unreachable(self, client):
        with mock.patch("clinic.views.connection.cursor", side_effect=Exception("down")):
            response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "error"}


class TestPrivateCache:
    @pytest.mark.parametrize(
        "url", ["/", "/treatments/patients/", "/products/lots/", "/clinic/audit/", "/healthz"]
    )
    def test_every_page_to_a_signed_in_user_is_private_no_store(self, client_for, manager, url):
        response = client_for(manager).get(url)
        assert response.status_code == 200, url
        cache = response["Cache-Control"]
        assert "no-store" in cache and "private" in cache


class TestAuditList:
    url = "/clinic/audit/"

    def test_managers_see_events_of_their_locations(self, client_for, manager, location, other_location):
        audit_record(actor=manager, action="lot.receive", obj=location)
        audit_record(actor=None, action="lot.receive", obj=other_location, location=other_location)
        response = client_for(manager).get(self.url, {"action": "lot.receive"})
        assert response.status_code == 200
        assert [e.location for e in response.context["page"]] == [location]

    def test_it_filters_by_action_prefix_and_user(self, client_for, manager, front_desk, location):
        audit_record(actor=manager, action="lot.receive", obj=location)
        audit_record(actor=front_desk, action="session.book", obj=location)
        response = client_for(manager).get(self.url, {"action": "lot.", "actor": manager.pk})
        assert [e.action for e in response.context["page"]] == ["lot.receive"]

    def test_actions_read_as_their_labels_with_the_stored_code(self, client_for, manager, location):
        audit_record(actor=manager, action=AuditAction.SESSION_NO_SHOW, obj=location)
        response = client_for(manager).get(self.url)
        assert "Session marked no-show" in response.text
        assert "<code>session.no_show</code>" in response.text

    def test_a_bad_filter_explains_itself(self, client_for, manager):
        response = client_for(manager).get(self.url, {"date_from": "2026-02-01", "date_to": "2026-01-01"})
        assert response.status_code == 200
        assert "must be on or before" in response.text

    def test_front_desk_and_practitioners_get_403(self, client_for, front_desk, practitioner, client):
        assert client_for(front_desk).get(self.url).status_code == 403
        client.logout()
        assert client_for(practitioner).get(self.url).status_code == 403

    def test_it_rejects_post(self, client_for, manager):
        assert client_for(manager).post(self.url).status_code == 405

    def test_the_query_count_does_not_grow_with_events(
        self, client_for, manager, location, django_assert_num_queries
    ):
        c = client_for(manager)
        audit_record(actor=manager, action=AuditAction.LOT_RECEIVE, obj=location)
        with django_assert_num_queries(8, info="one event"):
            c.get(self.url)
        for action in list(AuditAction)[:30]:
            audit_record(actor=manager, action=action, obj=location)
        with django_assert_num_queries(8, info="31 events"):
            c.get(self.url)

    def test_the_export_streams_csv(self, client_for, manager, location):
        audit_record(actor=manager, action="lot.receive", obj=location)
        response = client_for(manager).get("/clinic/audit/export.csv")
        assert response.streaming
        body = b"".join(response.streaming_content).decode()
        assert "lot.receive" in body and body.splitlines()[0].lstrip("\ufeff").startswith("time_utc")

    def test_the_export_neutralises_spreadsheet_formulas(self, client_for, manager):
        audit_record(actor=manager, action=AuditAction.RECALL_EXPORT, object_repr='=HYPERLINK("evil")')
        body = b"".join(client_for(manager).get("/clinic/audit/export.csv").streaming_content).decode()
        assert "'=HYPERLINK" in body


class TestOutbox:
    def _failed(self, location, key="k1"):
        n = notification_queue(
            kind=NotificationKind.DOCUMENT_EXPIRY,
            channel="email",
            subject="s",
            body="b",
            dedupe_key=key,
            to_address="a@b.example",
            location=location,
        )
        Notification.objects.filter(pk=n.pk).update(status="failed")
        return n

    def test_managers_filter_by_status(self, client_for, manager, location):
        self._failed(location)
        response = client_for(manager).get("/clinic/outbox/", {"status": "failed"})
        assert response.status_code == 200 and len(response.context["page"].object_list) == 1

    def test_kinds_read_as_their_labels(self, client_for, manager, location):
        self._failed(location)
        response = client_for(manager).get("/clinic/outbox/")
        assert '<option value="document.expiry">Regulatory document expiring</option>' in response.text
        assert "<td>Regulatory document expiring</td>" in response.text

    def test_a_manager_can_retry_a_failed_notification(
        self, client_for, manager, location, django_capture_on_commit_callbacks
    ):
        n = self._failed(location)
        with (
            mock.patch("clinic.notifications.outbox.notification_enqueue"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = client_for(manager).post(f"/clinic/outbox/{n.pk}/retry/")
        assert response.status_code == 302
        n.refresh_from_db()
        assert n.status == "pending"

    def test_retry_is_post_only(self, client_for, manager, location):
        n = self._failed(location)
        assert client_for(manager).get(f"/clinic/outbox/{n.pk}/retry/").status_code == 405

    def test_another_locations_notification_is_404(self, client_for, manager, other_location):
        n = self._failed(other_location)
        assert client_for(manager).post(f"/clinic/outbox/{n.pk}/cancel/").status_code == 404

    def test_front_desk_gets_403(self, client_for, front_desk, location):
        n = self._failed(location)
        assert client_for(front_desk).post(f"/clinic/outbox/{n.pk}/cancel/").status_code == 403


class TestAlerts:
    def test_staff_see_only_their_own_alerts_and_can_mark_them_read(self, client_for, front_desk, manager):
        notification_queue(
            kind=NotificationKind.EXCURSION_OPENED,
            channel="in_app",
            subject="For the desk",
            body="b",
            dedupe_key="a1",
            recipient_user=front_desk,
        )
        notification_queue(
            kind=NotificationKind.EXCURSION_OPENED,
            channel="in_app",
            subject="For the manager",
            body="b",
            dedupe_key="a2",
            recipient_user=manager,
        )
        c = client_for(front_desk)
        response = c.get("/clinic/alerts/")
        assert "For the desk" in response.text and "For the manager" not in response.text
        c.post("/clinic/alerts/read/")
        assert Notification.objects.get(dedupe_key="a1").read_at is not None
        assert Notification.objects.get(dedupe_key="a2").read_at is None


class TestStaff:
    def test_a_manager_creates_an_account_with_role_and_location(self, client_for, manager, location):
        response = client_for(manager).post(
            "/clinic/staff/new/",
            {
                "username": "newdesk",
                "first_name": "New",
                "last_name": "Desk",
                "email": "",
                "role": FRONT_DESK,
                "locations": [location.pk],
                "password": "a-long-enough-passphrase",
            },
        )
        assert response.status_code == 302
        user = get_user_model().objects.get(username="newdesk")
        assert user.groups.get().name == "Front desk"
        assert list(user.staff_profile.locations.all()) == [location]
        assert AuditEvent.objects.filter(action="staff.create", object_id=str(user.pk)).exists()

    def test_a_weak_password_is_refused_with_a_message(self, client_for, manager, location):
        response = client_for(manager).post(
            "/clinic/staff/new/",
            {
                "username": "weak",
                "first_name": "W",
                "last_name": "K",
                "role": FRONT_DESK,
                "locations": [location.pk],
                "password": "12345",
            },
        )
        assert response.status_code == 200
        assert "too short" in response.text
        assert not get_user_model().objects.filter(username="weak").exists()

    def test_a_manager_cannot_give_a_location_they_do_not_hold(self, client_for, manager, other_location):
        response = client_for(manager).post(
            "/clinic/staff/new/",
            {
                "username": "sneaky",
                "first_name": "S",
                "last_name": "N",
                "role": FRONT_DESK,
                "locations": [other_location.pk],
                "password": "a-long-enough-passphrase",
            },
        )
        assert response.status_code == 200
        assert not get_user_model().objects.filter(username="sneaky").exists()

    def test_staff_of_another_location_is_404(self, client_for, manager, other_location):
        outsider = staff(PRACTITIONER, other_location)
        assert client_for(manager).get(f"/clinic/staff/{outsider.pk}/").status_code == 404

    def test_a_manager_cannot_deactivate_themselves(self, client_for, manager, location):
        response = client_for(manager).post(
            f"/clinic/staff/{manager.pk}/",
            {
                "first_name": "M",
                "last_name": "G",
                "role": "manager",
                "locations": [location.pk],
            },
        )
        assert response.status_code == 200 and "cannot deactivate your own account" in response.text
        manager.refresh_from_db()
        assert manager.is_active

    def test_practitioners_get_403(self, client_for, practitioner):
        assert client_for(practitioner).get("/clinic/staff/").status_code == 403


def test_error_pages_are_branded(client_for, manager):
    response = client_for(manager).get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.text and "Go to your dashboard" in response.text


class TestStaffAcrossSites:
    """A manager of one site cannot change an account that also works at another site."""

    def test_a_single_site_manager_cannot_demote_a_two_site_manager(
        self, client_for, location, other_location
    ):
        two_site = staff("manager", location, other_location, username="two_site")
        one_site = staff("manager", other_location, username="one_site")
        response = client_for(one_site).post(
            f"/clinic/staff/{two_site.pk}/",
            {
                "first_name": "Hijacked",
                "last_name": "X",
                "email": "attacker@example.com",
                "role": FRONT_DESK,
                "locations": [other_location.pk],
                "is_active": "",
            },
        )
        assert response.status_code == 403
        two_site.refresh_from_db()
        assert two_site.is_active and two_site.email != "attacker@example.com"
        assert two_site.groups.get().name == "Manager"

    def test_the_service_refuses_it_too(self, location, other_location):
        from django.core.exceptions import PermissionDenied

        from clinic.services import staff_update

        two_site = staff("front_desk", location, other_location, username="desk2")
        one_site = staff("manager", other_location, username="one_site2")
        with pytest.raises(PermissionDenied):
            staff_update(
                actor=one_site,
                user=two_site,
                first_name="a",
                last_name="b",
                email="",
                role_key="manager",
                locations=[other_location],
                is_active=True,
            )

    def test_a_manager_cannot_change_their_own_role(self, client_for, manager, location):
        response = client_for(manager).post(
            f"/clinic/staff/{manager.pk}/",
            {
                "first_name": "M",
                "last_name": "G",
                "role": FRONT_DESK,
                "locations": [location.pk],
                "is_active": "on",
            },
        )
        assert response.status_code == 200 and "cannot change your own role" in response.text
