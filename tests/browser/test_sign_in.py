"""Each role signs in through the real login page and lands on its own dashboard."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("fixture", "heading"),
    [
        ("front_desk", "Today at the front desk"),
        ("practitioner", "My day"),
        ("manager", "Stock and compliance"),
    ],
)
def test_each_role_signs_in_to_its_dashboard(request, page, fixture, heading):
    user = request.getfixturevalue(fixture)
    sign_in(page, user.username)
    assert page.get_by_role("heading", level=1).inner_text() == heading
    assert_accessible(page)
    assert page.console_errors == []


def test_the_login_page_is_accessible_and_explains_a_wrong_password(page, manager):
    page.goto("/accounts/login/")
    assert_accessible(page)
    page.get_by_label("Username").fill("mgr")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert "enter a correct username and password" in page.content()


def test_a_manager_signs_out(page, manager):
    sign_in(page, "mgr")
    page.locator("#main-nav .dropdown-toggle").last.click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")


def test_a_forgotten_password_is_reset_from_the_emailed_link(page, manager, mailoutbox):
    import re

    from django.core.cache import caches

    caches["ratelimit"].clear()
    manager.email = "mgr@clinic.example"
    manager.save(update_fields=["email"])
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgotten your password?").click()
    page.wait_for_url("**/accounts/password/reset/")
    assert_accessible(page)
    page.get_by_label("Email").fill("mgr@clinic.example")
    page.get_by_role("button", name="Send the link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    (message,) = mailoutbox
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", message.body).group(1)
    page.goto(link)
    page.get_by_role("heading", name="Choose a new password").wait_for()
    assert_accessible(page)
    new = "a-much-longer-pass-2026"
    page.locator("#id_new_password1").fill(new)
    page.locator("#id_new_password2").fill(new)
    page.get_by_role("button", name="Set the password").click()
    page.get_by_role("heading", name="Your new password is set").wait_for()
    page.get_by_role("link", name="Sign in").click()
    sign_in(page, manager.username, new)
    assert page.get_by_role("heading", level=1).inner_text() == "Stock and compliance"
    assert page.console_errors == []
