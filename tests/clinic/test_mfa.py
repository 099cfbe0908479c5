"""Two-step sign-in: enrolment, codes, recovery codes, lock-out, resets and refusal audit."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic import mfa
from clinic.audit import AuditAction
from clinic.models import AuditEvent
from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER
from tests.factories import PASSWORD, staff
from tests.treatments.factories import PatientFactory

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def required(settings):
    settings.MFA_REQUIRED_ROLES = (PRACTITIONER, MANAGER)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def code_for(device: TOTPDevice) -> str:
    device.refresh_from_db()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def enrolled(user) -> tuple[TOTPDevice, list[str]]:
    device = mfa.totp_device_start(user=user)
    enrolment = mfa.mfa_enrol_confirm(user=user, device=device, code=code_for(device))
    assert enrolment is not None
    return enrolment.device, enrolment.recovery_codes


def password_step(client, username="prac", **extra):
    return client.post("/accounts/login/", {"username": username, "password": PASSWORD, **extra})


def actions(*wanted) -> list[str]:
    return list(AuditEvent.objects.filter(action__in=wanted).order_by("id").values_list("action", flat=True))


def test_the_production_default_requires_practitioners_and_managers():
    from clinic import settings as production

    assert production.MFA_REQUIRED_ROLES == (PRACTITIONER, MANAGER)


def test_an_unknown_role_in_the_setting_stops_start_up():
    from tests.clinic.test_settings import run_manage

    result = run_manage({"DEBUG": "1", "MFA_REQUIRED_ROLES": "practitioner,dentist"}, "check")
    assert result.returncode != 0 and "MFA_REQUIRED_ROLES names unknown roles ['dentist']" in result.stderr


def test_a_first_sign_in_enrols_then_shows_recovery_codes_once(client, practitioner, clock):
    response = password_step(client)
    assert response["Location"] == "/accounts/two-step/setup/"
    # The password alone signs nobody in.
    assert client.get("/")["Location"].startswith("/accounts/login/")
    page = client.get("/accounts/two-step/setup/")
    assert page.status_code == 200 and "<svg" in page.text
    secret = re.search(r'data-testid="mfa-secret">([A-Z2-7 ]+)<', page.text).group(1)
    device = TOTPDevice.objects.get(user=practitioner, confirmed=False)
    assert secret.replace(" ", "") == base64.b32encode(device.bin_key).decode()

    wrong = client.post("/accounts/two-step/setup/", {"code": "000000"})
    assert "That code is not right" in wrong.text
    assert not TOTPDevice.objects.filter(user=practitioner, confirmed=True).exists()
    assert "Wait a few seconds" in client.post("/accounts/two-step/setup/", {"code": code_for(device)}).text
    clock.shift(5)
    done = client.post("/accounts/two-step/setup/", {"code": code_for(device)})
    assert done["Location"] == "/accounts/two-step/recovery-codes/"
    codes_page = client.get(done["Location"])
    codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", codes_page.text)
    assert len(codes) == 10
    assert client.get("/accounts/two-step/recovery-codes/")["Location"] == "/accounts/two-step/"
    assert client.get("/").status_code == 200
    assert actions(AuditAction.MFA_ENROL, AuditAction.AUTH_LOGIN) == ["mfa.enrol", "auth.login"]


def test_an_enrolled_user_signs_in_with_a_code_that_works_once(client, practitioner, clock):
    device, _ = enrolled(practitioner)
    clock.shift(60)
    assert password_step(client, next="/treatments/patients/")["Location"] == "/accounts/login/code/"
    code = code_for(device)
    response = client.post("/accounts/login/code/", {"code": f"{code[:3]} {code[3:]}"})
    assert response["Location"] == "/treatments/patients/"
    assert client.get("/").status_code == 200
    assert actions(AuditAction.MFA_VERIFY, AuditAction.AUTH_LOGIN) == ["mfa.verify", "auth.login"]

    client.post("/accounts/logout/")
    password_step(client)
    again = client.post("/accounts/login/code/", {"code": code})
    assert again.status_code == 200 and "not right" in again.text


def test_a_recovery_code_signs_in_once(client, practitioner, clock):
    _, codes = enrolled(practitioner)
    password_step(client)
    response = client.post("/accounts/login/code/", {"code": codes[0].upper()}, follow=True)
    assert response.status_code == 200 and "recovery code; 9 left" in response.text
    assert StaticToken.objects.filter(device__user=practitioner).count() == 9
    assert actions(AuditAction.MFA_RECOVERY_USE) == ["mfa.recovery_use"]
    client.post("/accounts/logout/")
    clock.shift(5)
    password_step(client)
    assert "not right" in client.post("/accounts/login/code/", {"code": codes[0]}).text


def test_wrong_codes_lock_out_like_wrong_passwords_and_a_new_password_step_does_not_reset_them(
    client, practitioner, settings, clock
):
    enrolled(practitioner)
    half = settings.AXES_FAILURE_LIMIT - 2
    password_step(client)
    for _ in range(half):
        clock.shift(20)  # past the device's doubling wait: each code is really checked
        assert "not right" in client.post("/accounts/login/code/", {"code": "123456"}).text
    assert password_step(client)["Location"] == "/accounts/login/code/"
    response = None
    for _ in range(settings.AXES_FAILURE_LIMIT - half):
        clock.shift(40)
        response = client.post("/accounts/login/code/", {"code": "123456"})
    assert response.status_code == 429 and "Too many failed sign-in attempts" in response.text
    assert AuditEvent.objects.filter(action=AuditAction.MFA_FAILED).count() == settings.AXES_FAILURE_LIMIT
    assert AuditEvent.objects.filter(action=AuditAction.AUTH_LOCKOUT).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.AUTH_LOGIN_FAILED).exists()
    # The right password is refused too until the cool-off ends.
    assert password_step(client).status_code == 429


def test_a_code_right_after_a_wrong_one_waits_for_the_throttle(client, practitioner, clock):
    device, _ = enrolled(practitioner)
    clock.shift(60)
    password_step(client)
    client.post("/accounts/login/code/", {"code": "111111"})
    too_soon = client.post("/accounts/login/code/", {"code": code_for(device)})
    assert "wait" in too_soon.text
    clock.shift(31)
    assert client.post("/accounts/login/code/", {"code": code_for(device)}).status_code == 302


def test_the_half_way_state_lapses(client, practitioner, settings, clock):
    device, _ = enrolled(practitioner)
    password_step(client)
    clock.shift(settings.MFA_PENDING_MINUTES * 60 + 1)
    response = client.post("/accounts/login/code/", {"code": code_for(device)})
    assert response["Location"] == "/accounts/login/"


def test_the_code_page_without_a_password_step_goes_back_to_sign_in(client):
    assert client.get("/accounts/login/code/")["Location"] == "/accounts/login/"
    assert client.get("/accounts/two-step/setup/")["Location"] == "/accounts/login/"


def test_a_half_way_user_cannot_replace_an_existing_authenticator(client, practitioner, clock):
    enrolled(practitioner)
    password_step(client)
    assert client.get("/accounts/two-step/setup/")["Location"] == "/accounts/login/code/"
    assert TOTPDevice.objects.filter(user=practitioner).count() == 1


def test_next_never_leaves_the_site(client, practitioner, clock):
    device, _ = enrolled(practitioner)
    clock.shift(60)
    password_step(client, next="https://evil.example/")
    assert client.post("/accounts/login/code/", {"code": code_for(device)})["Location"] == "/"


def test_a_role_without_the_requirement_signs_in_with_a_password(client, location):
    staff(FRONT_DESK, location, username="desk")
    assert password_step(client, "desk")["Location"] == "/"


def test_anyone_who_set_up_a_second_factor_must_use_it(client, location, clock):
    desk = staff(FRONT_DESK, location, username="desk")
    enrolled(desk)
    assert password_step(client, "desk")["Location"] == "/accounts/login/code/"


def test_a_session_without_the_second_factor_is_signed_out(client, practitioner):
    client.force_login(practitioner)
    response = client.get("/treatments/patients/")
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_the_admin_sign_in_goes_through_the_two_step_sign_in(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/admin/"


def test_new_recovery_codes_need_a_current_code(client, practitioner, clock):
    device, old = enrolled(practitioner)
    clock.shift(60)
    password_step(client)
    client.post("/accounts/login/code/", {"code": code_for(device)})
    page = client.get("/accounts/two-step/")
    assert "Recovery codes left: <strong>10</strong>" in page.text
    assert "not right" in client.post("/accounts/two-step/", {"code": old[1]}).text
    clock.shift(60)
    response = client.post("/accounts/two-step/", {"code": code_for(device)})
    assert response["Location"] == "/accounts/two-step/recovery-codes/"
    new = re.findall(r"<code>([a-z2-7-]{9})</code>", client.get(response["Location"]).text)
    assert len(new) == 10 and not set(new) & set(old)
    assert actions(AuditAction.MFA_RECOVERY_CODES_NEW) == ["mfa.recovery_codes_new"]


def test_a_manager_resets_a_colleagues_second_factor_and_ends_their_session(
    client, client_for, practitioner, manager, clock, django_user_model
):
    from django.test import Client

    device, _ = enrolled(practitioner)
    clock.shift(60)
    colleague = Client()
    password_step(colleague)
    colleague.post("/accounts/login/code/", {"code": code_for(device)})
    assert colleague.get("/").status_code == 200

    enrolled(manager)
    boss = Client()
    boss.force_login(manager)
    session = boss.session
    session["otp_device_id"] = TOTPDevice.objects.get(user=manager).persistent_id
    session.save()
    page = boss.get(f"/clinic/staff/{practitioner.pk}/")
    assert "Reset second factor" in page.text
    response = boss.post(f"/clinic/staff/{practitioner.pk}/second-factor/reset/", follow=True)
    assert "set up a new one at their next sign-in" in response.text
    assert not TOTPDevice.objects.filter(user=practitioner).exists()
    assert (
        AuditEvent.objects.filter(action=AuditAction.MFA_RESET, object_id=str(practitioner.pk)).count() == 1
    )
    assert colleague.get("/")["Location"].startswith("/accounts/login/")
    assert password_step(colleague)["Location"] == "/accounts/two-step/setup/"


def test_a_manager_sends_a_colleague_a_reset_link(client_for, settings, location):
    settings.MFA_REQUIRED_ROLES = ()
    boss = client_for(staff(MANAGER, location, username="boss"))
    member = staff(PRACTITIONER, location, username="colleague", email="colleague@example.com")
    response = boss.post(f"/clinic/staff/{member.pk}/password-reset/", follow=True)
    assert "on its way" in response.text
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["colleague@example.com"]
    link = re.search(r"https?://\S+/accounts/password/reset/\S+/", mail.outbox[0].body).group(0)
    assert link.startswith(settings.SITE_URL)
    assert "/accounts/password/reset/" not in response.text.split("on its way")[0][-400:]
    assert AuditEvent.objects.filter(action=AuditAction.STAFF_PASSWORD_RESET_SEND).count() == 1


def test_no_reset_link_without_an_email_address(client_for, settings, location):
    settings.MFA_REQUIRED_ROLES = ()
    boss = client_for(staff(MANAGER, location, username="boss"))
    member = staff(PRACTITIONER, location, username="colleague", email="")
    response = boss.post(f"/clinic/staff/{member.pk}/password-reset/", follow=True)
    assert "needs an active account with an email address" in response.text
    assert mail.outbox == []


def test_a_manager_cannot_reset_their_own_second_factor_from_the_staff_page(client_for, settings, manager):
    settings.MFA_REQUIRED_ROLES = ()
    boss = client_for(manager)
    assert boss.post(f"/clinic/staff/{manager.pk}/second-factor/reset/").status_code == 403


def test_refused_patient_pages_are_audited(client_for, settings, location, other_location):
    settings.MFA_REQUIRED_ROLES = ()
    elsewhere = PatientFactory(location=other_location)
    prac = client_for(staff(PRACTITIONER, location, username="p1"))
    assert prac.get(f"/treatments/patients/{elsewhere.pk}/").status_code == 404
    row = AuditEvent.objects.get(action=AuditAction.ACCESS_REFUSED)
    assert row.actor_name == "p1" and row.object_type == "treatments:patient_detail"
    assert row.object_id == str(elsewhere.pk) and row.after["status"] == 404
    # Not-found pages elsewhere (a mistyped dashboard address) are not refusals of patient data.
    prac.get("/clinic/nothing-here/")
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_REFUSED).count() == 1


def test_a_weak_role_refused_a_document_is_audited(client_for, settings, location):
    settings.MFA_REQUIRED_ROLES = ()
    desk = client_for(staff(FRONT_DESK, location, username="d1"))
    desk.get("/products/documents/999999/file/")
    row = AuditEvent.objects.get(action=AuditAction.ACCESS_REFUSED)
    assert row.object_type == "products:document_download" and row.after["status"] in (403, 404)


def test_the_audit_browser_filters_sign_in_events(client_for, settings, manager, client):
    client.post("/accounts/login/", {"username": "nobody", "password": "x"})
    settings.MFA_REQUIRED_ROLES = ()
    page = client_for(manager).get("/clinic/audit/?action=auth.")
    assert page.status_code == 200 and "Sign-in failed" in page.text
