"""Absurd numbers in the charting and booking forms are a form error, never a 500 (issue 17).

The record form's line numbers (sealed vials, needle gauge, points, volumes) and the booking form's
hidden plan id, posted with numbers past any column, past any float, ``nan`` and 5 000 digits: the page
comes back with the form, and nothing is charted or booked.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import AuditEvent
from tests.treatments.factories import charted_patient_objects
from tests.treatments.test_record_views import post_data
from treatments.models import Session, TreatmentRecord

pytestmark = pytest.mark.django_db

ABSURD = ("99999999999999999999", "-99999999999999999999", "2147483648", "1e309", "nan", "inf", "9" * 5000)
LINE_FIELDS = (
    "vials",
    "volume_ml",
    "needle_gauge",
    "depth_mm",
    "volume_per_point_ml",
    "points",
    "spacing_cm",
)


def test_absurd_numbers_in_a_record_line_are_form_errors(client_for, location, practitioner):
    objects = charted_patient_objects(location, practitioner, "Dora")
    session, lot = objects["open_session"], objects["lot"]
    url = reverse("treatments:record_edit", args=[session.pk])
    client = client_for(practitioner)
    audit_rows = AuditEvent.objects.count()
    for field in LINE_FIELDS:
        for value in ABSURD:
            data = post_data(lot, source="open_new" if field == "volume_ml" else "sealed", **{field: value})
            response = client.post(url, data)
            assert response.status_code == 200, (field, value[:30], response.status_code)
    assert not TreatmentRecord.objects.filter(session=session).exists()
    assert AuditEvent.objects.count() == audit_rows


def test_an_absurd_plan_id_in_a_booking_is_refused(
    client_for, front_desk, practitioner_all_hours, patient, tomorrow
):
    client = client_for(front_desk)
    for value in (v for v in ABSURD if v != "2147483648"):  # that one is an id: a plan not found
        response = client.post(
            "/treatments/sessions/new/",
            {
                "patient": patient.pk,
                "location": patient.location_id,
                "practitioner": practitioner_all_hours.pk,
                "date": tomorrow.isoformat(),
                "time": "10:00",
                "duration_minutes": 45,
                "treatment_type": "skin_quality",
                "plan": value,
            },
        )
        assert response.status_code == 200, (value[:30], response.status_code)
        assert response.context["form"].errors.get("plan"), value[:30]
    assert not Session.objects.filter(patient=patient).exists()
