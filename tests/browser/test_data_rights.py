"""A patient's data rights as a manager meets them: download everything held, restrict
processing (the front desk then sees the banner), lift it."""

from __future__ import annotations

import json
import zipfile

import pytest

from tests.browser.conftest import assert_accessible, sign_in
from tests.treatments.factories import PatientFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_downloads_the_data_restricts_and_the_desk_sees_it(
    page, browser, live_server, location, manager, front_desk, tmp_path
):
    patient = PatientFactory(location=location, first_name="Dora", last_name="Doe", reminder_opt_in=True)
    sign_in(page, manager.username)
    page.goto(f"/treatments/patients/{patient.pk}/")
    page.get_by_role("link", name="Data rights").click()
    page.get_by_role("heading", name="Data rights: Dora Doe").wait_for()
    assert_accessible(page)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the patient's data (ZIP)").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"patient-{patient.pk}-data-")
    path = tmp_path / "export.zip"
    download.save_as(path)
    with zipfile.ZipFile(path) as archive:
        data = json.loads(archive.read("patient-data.json"))
        assert {"patient-data.json", "summary.html"} <= set(archive.namelist())
    assert data["patient"]["last_name"] == "Doe"

    page.get_by_role("button", name="Restrict processing").click()
    assert "This field is required" in page.content()  # no reason: explained, nothing changed
    page.get_by_label("Reason").fill("Contests the accuracy of her record")
    page.get_by_role("button", name="Restrict processing").click()
    page.get_by_text("processing is restricted: no reminders").wait_for()
    assert_accessible(page)

    desk = browser.new_context(base_url=live_server.url, viewport={"width": 1024, "height": 768}).new_page()
    sign_in(desk, front_desk.username)
    desk.goto(f"/treatments/patients/{patient.pk}/")
    banner = desk.get_by_test_id("restricted-banner")
    banner.wait_for()
    assert "no reminders" in banner.inner_text()
    assert desk.get_by_role("link", name="Data rights").count() == 0
    assert_accessible(desk)

    page.get_by_label("Reason").fill("Record corrected")
    page.get_by_role("button", name="Lift the restriction").click()
    page.get_by_text("restriction on Dora Doe is lifted").wait_for()


def test_a_manager_records_an_erasure_request_and_the_desk_sees_it_pending(
    page, browser, live_server, location, manager, front_desk, practitioner
):
    from tests.treatments.factories import charted_patient_objects

    patient = charted_patient_objects(location, practitioner, "Dora")["patient"]
    sign_in(page, manager.username)
    page.goto(f"/treatments/patients/{patient.pk}/data-rights/")
    page.get_by_role("button", name="Record the erasure request").click()
    assert "This field is required" in page.content()  # the identity check is not ticked
    page.get_by_label("How it was made").select_option("email")
    page.get_by_label("I have checked that the request comes from the patient").check()
    page.get_by_role("button", name="Record the erasure request").click()
    page.get_by_text("The clinical record is kept until").first.wait_for()
    assert page.get_by_text("Clinical record kept").count() >= 1
    assert_accessible(page)

    desk = browser.new_context(base_url=live_server.url).new_page()
    sign_in(desk, front_desk.username)
    desk.goto(f"/treatments/patients/{patient.pk}/")
    desk.get_by_test_id("erasure-banner").wait_for()
    desk.get_by_test_id("restricted-banner").wait_for()
    assert_accessible(desk)
