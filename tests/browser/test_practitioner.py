"""A practitioner takes a patient through consent (signature pad), screening and charting:
picks the first-expiry lot, saves, sees the stock drop, signs and completes the session."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from products.models import Lot
from tests.browser.conftest import assert_accessible, draw_signature, sign_in
from tests.treatments.factories import PatientFactory, SessionFactory, charting_lot, consent_template
from treatments.consent import has_consent
from treatments.models import PatientConsent, Scope, SessionStatus, TreatmentRecord

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def visit(location, practitioner):
    patient = PatientFactory(location=location, first_name="Jane", last_name="Doe")
    session = SessionFactory(
        patient=patient,
        practitioner=practitioner,
        status=SessionStatus.ARRIVED,
        starts_at=timezone.now() - dt.timedelta(minutes=5),
    )
    later = charting_lot(location, quantity=10)
    sooner = charting_lot(location, quantity=6)
    Lot.objects.filter(pk=sooner.pk).update(expiry_date=later.expiry_date - dt.timedelta(days=60))
    consent_template("skin_quality")
    return {"patient": patient, "session": session, "sooner": sooner, "later": later}


def test_a_practitioner_consents_screens_and_charts_a_session(page, practitioner, visit):
    session, sooner = visit["session"], visit["sooner"]
    sign_in(page, practitioner.username)
    page.goto(f"/treatments/sessions/{session.pk}/")
    assert "No valid treatment consent" in page.locator("#clinical").inner_text()

    # Consent, signed on the tablet.
    page.get_by_role("link", name="Sign consent").click()
    page.wait_for_url("**/consents/new/**")
    assert "phase 3" in page.locator(".consent-text").inner_text()
    assert_accessible(page)
    page.get_by_label("Patient's full name, typed by the patient").fill("Jane Doe")
    page.get_by_label("The patient has read the consent text").check()
    page.get_by_label("Clinical photography").check()
    draw_signature(page)
    assert page.locator("#id_signature").input_value().startswith("data:image/png;base64,")
    page.get_by_role("button", name="Record signed consent").click()
    page.wait_for_url(f"**/treatments/sessions/{session.pk}/")
    consent = PatientConsent.objects.get(patient=visit["patient"])
    assert consent.typed_name == "Jane Doe" and consent.scope_photography and not consent.scope_marketing
    assert has_consent(visit["patient"], Scope.TREATMENT)

    # The printable consent shows the drawn signature, served through the checked view.
    page.goto(f"/treatments/consents/{consent.pk}/")
    signature = page.get_by_role("img", name="Signature of Jane Doe")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=signature.element_handle())
    assert_accessible(page)
    page.goto(f"/treatments/sessions/{session.pk}/")

    # Screening before the first treatment: nothing to declare.
    page.get_by_role("link", name="Screening questionnaire").click()
    page.wait_for_url("**/screening/new/**")
    assert_accessible(page)
    page.get_by_role("button", name="Record answers").click()
    page.wait_for_url(f"**/treatments/sessions/{session.pk}/")
    assert "No contraindication" in page.locator("#clinical").inner_text()

    # Chart.
    page.get_by_role("button", name="Start treatment of Jane Doe").click()
    page.wait_for_load_state()
    page.get_by_role("link", name="Chart treatment").click()
    page.wait_for_url(f"**/treatments/sessions/{session.pk}/record/")
    assert_accessible(page)
    # The line starts from the lot that expires first.
    assert page.locator('input[name="line-0-take"]:checked').get_attribute("value") == f"lot:{sooner.pk}"
    page.get_by_label("Screening confirmed with the patient at this visit").check()
    page.get_by_label("Signed consent for this treatment checked").check()
    page.locator("#id_line-0-vials").fill("2")
    page.locator("#id_line-0-route").select_option("intradermal")
    page.locator("#id_line-0-areas_0").check()  # face
    page.locator("#id_line-0-needle_gauge").fill("31")
    page.locator("#id_line-0-volume_per_point_ml").fill("0.015")
    page.locator("#id_line-0-points").fill("120")
    page.get_by_role("button", name="Save treatment record").click()
    page.wait_for_url("**/treatments/records/*/")
    assert "Treatment record saved" in page.locator(".messages").inner_text()
    assert_accessible(page)
    record = TreatmentRecord.objects.get(session=session)
    assert record.lines.get().lot_id == sooner.pk
    assert Lot.objects.get(pk=sooner.pk).quantity_on_hand == 4
    assert Lot.objects.get(pk=visit["later"].pk).quantity_on_hand == 10

    # The stock page shows the drop by the amount charted.
    page.goto(f"/products/lots/{sooner.pk}/")
    assert "4 of 6 received" in page.content()

    # Sign, then complete the session.
    page.goto(f"/treatments/records/{record.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sign record").click()
    page.wait_for_load_state()
    assert "locked" in page.content()
    page.get_by_role("link", name="Session").click()
    page.get_by_role("button", name="Complete session of Jane Doe").click()
    page.wait_for_load_state()
    session.refresh_from_db()
    record.refresh_from_db()
    assert record.is_signed and session.status == SessionStatus.COMPLETED

    page.goto(f"/treatments/patients/{visit['patient'].pk}/timeline/")
    assert f"lot {sooner.lot_number}" in page.content()
    assert_accessible(page)
    assert page.console_errors == []


def test_an_empty_signature_pad_is_refused(page, practitioner, visit):
    patient = visit["patient"]
    sign_in(page, practitioner.username)
    page.goto(
        f"/treatments/patients/{patient.pk}/consents/new/?template={consent_template('skin_quality').pk}"
    )
    page.get_by_label("Patient's full name, typed by the patient").fill("Jane Doe")
    page.get_by_label("The patient has read the consent text").check()
    page.get_by_role("button", name="Record signed consent").click()
    page.wait_for_load_state()
    assert "has not signed" in page.content()
    assert not PatientConsent.objects.exists()
