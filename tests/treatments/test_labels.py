"""Staff read labels, never stored codes: "Booked → In treatment", not "booked → in_treatment"."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests.treatments.factories import PatientFactory, PlanFactory, SessionFactory, template
from treatments.models import SessionChange, SessionStatus, TreatmentType
from treatments.services import plan_create

pytestmark = pytest.mark.django_db

# A snake_case choice value (two lower-case words joined by "_") standing alone in the text.
RAW_CODE = re.compile(r"(?<![\w/.-])[a-z]+_[a-z_]+(?![\w/.-])")


def _text(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)  # tags (and their attributes) are not read by anyone


def test_session_history_shows_status_labels(client_for, practitioner, location):
    session = SessionFactory(
        patient=PatientFactory(location=location),
        practitioner=practitioner,
        status=SessionStatus.IN_TREATMENT,
        treatment_type=TreatmentType.POST_PROCEDURE,
    )
    SessionChange.objects.create(
        session=session,
        kind=SessionChange.Kind.STATUS,
        changed_by=practitioner,
        from_status=SessionStatus.BOOKED,
        to_status=SessionStatus.IN_TREATMENT,
    )

    response = client_for(practitioner).get(reverse("treatments:session_detail", args=[session.pk]))

    text = " ".join(_text(response).split())
    assert "Booked → In treatment" in text
    assert "in_treatment" not in text
    assert RAW_CODE.findall(text) == []


def test_a_status_nobody_knows_is_shown_as_stored():
    change = SessionChange(from_status="", to_status="archived")
    assert (change.from_status_label, change.to_status_label) == ("", "archived")


def test_missing_consent_keeps_the_treatment_type_label(client_for, practitioner, location):
    session = SessionFactory(
        patient=PatientFactory(location=location),
        practitioner=practitioner,
        status=SessionStatus.ARRIVED,
        treatment_type=TreatmentType.OTHER,
    )

    response = client_for(practitioner).get(reverse("treatments:session_detail", args=[session.pk]))

    text = " ".join(_text(response).split())
    assert "No valid treatment consent for this treatment type (Other)." in text
    assert "for other." not in text


def test_a_second_plan_of_a_type_is_refused_with_the_type_label(practitioner, location):
    patient = PatientFactory(location=location)
    PlanFactory(patient=patient, template=template("skin-quality"))

    with pytest.raises(ValidationError) as exc:
        plan_create(actor=practitioner, patient=patient, template=template("skin-quality"))

    assert "(Skin-quality injection)" in exc.value.messages[0]
