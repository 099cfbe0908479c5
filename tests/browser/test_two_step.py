"""Two-step sign-in as a practitioner meets it: set up the app, sign in with a code and with a
recovery code; a manager resets a lost phone."""

from __future__ import annotations

import base64
import time

import pytest
from django_otp.oath import TOTP

from tests.browser.conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def required(settings):
    settings.MFA_REQUIRED_ROLES = ("practitioner", "manager")


def app_code(secret: str, *, ahead: int = 0) -> str:
    """What an authenticator app shows for ``secret`` now (``ahead`` steps of 30 s later: the
    site accepts the next step too, and refuses a code already used)."""
    totp = TOTP(base64.b32decode(secret.replace(" ", "")))
    totp.time = time.time() + 30 * ahead
    return f"{totp.token():06d}"


def sign_out(page) -> None:
    page.locator("#main-nav .dropdown-toggle").last.click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")


def test_a_practitioner_sets_up_the_app_then_signs_in_with_a_code_and_a_recovery_code(page, practitioner):
    sign_in(page, practitioner.username)
    page.get_by_role("heading", name="Set up two-step sign-in").wait_for()
    assert_accessible(page)
    assert page.get_by_role("img", name="QR code for setting up the authenticator app").is_visible()
    secret = page.get_by_test_id("mfa-secret").inner_text()
    page.get_by_label("Code from the app").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    assert "That code is not right" in page.content()
    time.sleep(1.1)  # the doubling wait after a wrong code
    page.get_by_label("Code from the app").fill(app_code(secret))
    page.get_by_role("button", name="Confirm").click()

    page.get_by_role("heading", name="Your recovery codes").wait_for()
    assert_accessible(page)
    codes = page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have kept them, continue").click()
    page.get_by_role("heading", name="My day").wait_for()
    sign_out(page)

    # With a recovery code: it works once, and the page says how many are left.
    sign_in(page, practitioner.username)
    page.get_by_role("heading", name="Two-step sign-in").wait_for()
    assert_accessible(page)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My day").wait_for()
    assert "9 left" in page.content()
    sign_out(page)

    # With the app's next code (the one used at set-up is spent).
    sign_in(page, practitioner.username)
    page.get_by_label("Code").fill(app_code(secret, ahead=1))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My day").wait_for()
    assert page.console_errors == []


def test_a_manager_resets_a_lost_phone_and_the_colleague_sets_up_again(page, practitioner, manager):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from clinic import mfa

    for user in (practitioner, manager):
        device = mfa.totp_device_start(user=user)
        assert mfa.mfa_enrol_confirm(user=user, device=device, code=app_code(base32(device)))
    manager_secret = base32(TOTPDevice.objects.get(user=manager))

    sign_in(page, manager.username)
    page.get_by_label("Code").fill(app_code(manager_secret, ahead=1))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Stock and compliance").wait_for()
    page.goto(f"/clinic/staff/{practitioner.pk}/")
    assert_accessible(page)
    page.get_by_role("button", name="Reset second factor").click()
    page.get_by_text("set up a new one at their next sign-in").wait_for()
    sign_out(page)

    sign_in(page, practitioner.username)
    page.get_by_role("heading", name="Set up two-step sign-in").wait_for()
    assert page.console_errors == []


def base32(device) -> str:
    return base64.b32encode(device.bin_key).decode()
