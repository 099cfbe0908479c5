"""A manager imports a real logger export whose dates read both ways, answers, and reads the summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from products.models import ReadingImport, StorageUnit
from tests.browser.conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAMPLE = Path(__file__).parent.parent / "products" / "logger_samples" / "logtag_us.csv"


def test_importing_a_logger_export_that_asks_its_date_format(page, manager, location):
    unit = StorageUnit.objects.create(
        location=location, name="Vaccine fridge", kind="fridge", min_c=2, max_c=8, logger_clock="utc"
    )
    sign_in(page, manager.username)
    page.goto(f"/products/units/{unit.pk}/")
    page.get_by_role("link", name="Import logger file").click()
    assert_accessible(page)
    page.get_by_label("Logger file (CSV or text export)").set_input_files(str(SAMPLE))
    page.get_by_role("button", name="Import").click()
    # Every date in the file is a day ≤ 12: asked, with the sample line read both ways.
    expect(page.get_by_text("Which way round does this logger write its dates?")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Monday 10 March 2025, 11:00").check()
    page.get_by_role("button", name="Import with these answers").click()
    expect(page.get_by_text("24 readings added, 0 already held, from 38 lines.")).to_be_visible()
    assert_accessible(page)
    batch = ReadingImport.objects.get()
    assert batch.status == "imported" and batch.date_format == "mdy" and batch.temperature_unit == "F"
    # The summary accounts for every line: preamble, blank, header and readings.
    table = page.get_by_role("table").first
    expect(table).to_contain_text("Preamble lines")
    expect(table).to_contain_text("12")
    page.get_by_role("link", name=unit.name).first.click()
    expect(page.get_by_text("24 added · 0 already held · 14 other lines, of 38")).to_be_visible()
