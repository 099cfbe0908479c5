"""Consent and screening views: signing, withdrawal, screening, what each role sees (roles: test_access)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import AuditEvent
from clinic.roles import PRACTITIONER
from tests.factories import staff
from tests.treatments.factories import (
    consent_template,
    screened_patient_objects,
    signature_data_url,
)
from treatments.consent import has_consent
from treatments.models import PatientConsent, Scope, Screening
from treatments.services import consent_template_publish, consent_withdraw

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(location, other_location, practitioner):
    consent_template()
    other_prac = staff(PRACTITIONER, other_location, username="prac_other")
    return {
        "own": screened_patient_objects(location, practitioner),
        "other": screened_patient_objects(other_location, other_prac),
    }


def test_signature_image_is_private_and_uncached(world, client_for, practitioner):
    response = client_for(practitioner).get(
        reverse("treatments:consent_signature", args=[world["own"]["consent"].pk])
    )
    assert response["Content-Type"] == "image/png"
    assert "no-store" in response["Cache-Control"]
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_signing_from_the_form(world, client_for, practitioner):
    patient = world["own"]["patient"]
    template = consent_template()
    response = client_for(practitioner).post(
        reverse("treatments:consent_sign", args=[patient.pk]),
        {
            "template": template.pk,
            "typed_name": "Dora Doe",
            "has_read": "on",
            "scope_treatment": "on",
            "scope_photography": "on",
            "scope_marketing": "on",
            "signature": signature_data_url(),
        },
    )
    assert response.status_code == 302
    consent = PatientConsent.objects.filter(patient=patient).first()
    assert consent.typed_name == "Dora Doe" and consent.scope_marketing
    assert has_consent(patient, Scope.MARKETING)


def test_signing_without_drawing_shows_the_error(world, client_for, practitioner):
    patient = world["own"]["patient"]
    before = PatientConsent.objects.count()
    response = client_for(practitioner).post(
        reverse("treatments:consent_sign", args=[patient.pk]) + f"?template={consent_template().pk}",
        {"typed_name": "Dora Doe", "has_read": "on", "scope_treatment": "on", "signature": ""},
    )
    assert response.status_code == 200
    assert "has not signed" in response.content.decode()
    assert PatientConsent.objects.count() == before


def test_the_printable_consent_shows_the_disclosure_and_is_audited(world, client_for, manager):
    consent = world["own"]["consent"]
    response = client_for(manager).get(reverse("treatments:consent_detail", args=[consent.pk]))
    html = response.content.decode()
    assert "phase 3" in html and consent.typed_name in html
    assert reverse("treatments:consent_signature", args=[consent.pk]) in html
    assert AuditEvent.objects.filter(action="consent.view", object_id=str(consent.pk)).exists()


def test_withdrawal_from_the_page(world, client_for, practitioner):
    consent = world["own"]["consent"]
    client_for(practitioner).post(
        reverse("treatments:consent_withdraw", args=[consent.pk]), {"scope": "all", "reason": "Moving away"}
    )
    assert not has_consent(consent.patient, Scope.TREATMENT)


def test_screening_from_the_form_and_override(world, client_for, practitioner):
    patient, session = world["own"]["patient"], world["own"]["session"]
    client = client_for(practitioner)
    response = client.post(
        reverse("treatments:screening_create", args=[patient.pk]),
        {"session": session.pk, "immunosuppressed": "on", "details": "Methotrexate"},
    )
    assert response.status_code == 302
    screening = Screening.objects.get(session=session)
    assert screening.blocks_treatment
    client.post(
        reverse("treatments:screening_override", args=[screening.pk]),
        {"reason": "Low dose, rheumatologist agrees; topical only."},
    )
    screening.refresh_from_db()
    assert screening.is_overridden


def test_front_desk_patient_page_has_no_clinical_data(world, client_for, front_desk):
    html = (
        client_for(front_desk)
        .get(reverse("treatments:patient_detail", args=[world["own"]["patient"].pk]))
        .content.decode()
    )
    assert "Clinical record" not in html
    assert "Contraindicated" not in html and "consents/" not in html


def test_practitioner_patient_page_shows_consents_and_screening(world, client_for, practitioner):
    html = (
        client_for(practitioner)
        .get(reverse("treatments:patient_detail", args=[world["own"]["patient"].pk]))
        .content.decode()
    )
    assert "Clinical record" in html
    assert "Contraindicated" in html
    assert reverse("treatments:consent_detail", args=[world["own"]["consent"].pk]) in html


def test_session_page_offers_consent_and_screening_steps(world, client_for, practitioner):
    session = world["own"]["session"]
    html = (
        client_for(practitioner).get(reverse("treatments:session_detail", args=[session.pk])).content.decode()
    )
    assert "Treatment consent" in html
    assert "confirms answers unchanged" in html


@pytest.mark.parametrize("view", ["consent_detail", "consent_template_list"])
def test_query_counts_are_fixed(world, client_for, manager, django_assert_num_queries, view):
    queries = {"consent_detail": 9, "consent_template_list": 6}[view]
    client = client_for(manager)
    consent = world["own"]["consent"]
    url = (
        reverse("treatments:consent_detail", args=[consent.pk])
        if view == "consent_detail"
        else reverse("treatments:consent_template_list")
    )
    consent_withdraw(actor=manager, consent=consent, scopes=["photography"], reason="No photos")
    client.get(url)
    with django_assert_num_queries(queries, info="one withdrawal"):
        client.get(url)
    for i in range(3):
        consent_template_publish(actor=manager, treatment_type="hair", title=f"Hair {i}", body="Text")
    consent_withdraw(actor=manager, consent=consent, reason="Moving")
    with django_assert_num_queries(queries, info="three more templates, a second withdrawal"):
        client.get(url)


def test_front_desk_session_page_has_no_clinical_panel(world, client_for, front_desk):
    session = world["own"]["session"]
    html = (
        client_for(front_desk).get(reverse("treatments:session_detail", args=[session.pk])).content.decode()
    )
    assert "Consent and screening" not in html and "Chart treatment" not in html
