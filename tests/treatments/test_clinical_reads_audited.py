"""Reads of clinical content are audited; a signature that would decode huge is refused."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from PIL import Image

from clinic.models import AuditEvent
from tests.treatments.factories import (
    PatientFactory,
    chart,
    charting_lot,
    line_input,
    ready_session,
    sign_consent,
)
from treatments.services.clinical import decode_signature

pytestmark = pytest.mark.django_db


def test_viewing_a_signature_image_is_audited(client_for, practitioner, location):
    consent = sign_consent(PatientFactory(location=location), practitioner)
    response = client_for(practitioner).get(reverse("treatments:consent_signature", args=[consent.pk]))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="consent.view_signature", object_id=str(consent.pk)).exists()


def test_opening_a_draft_record_is_audited(client_for, practitioner, location):
    session = ready_session(PatientFactory(location=location), practitioner)
    record = chart(session, practitioner, line_input(charting_lot(location))).record
    response = client_for(practitioner).get(reverse("treatments:record_edit", args=[session.pk]))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="treatment_record.view", object_id=str(record.pk)).exists()


def test_a_signature_that_decodes_to_a_huge_image_is_refused():
    buf = io.BytesIO()
    Image.new("RGBA", (3000, 3000), (0, 0, 0, 0)).save(buf, "PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    with pytest.raises(ValidationError, match="megapixels"):
        decode_signature(data_url)
