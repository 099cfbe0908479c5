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
