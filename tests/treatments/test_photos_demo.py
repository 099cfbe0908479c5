"""Demo photos: drawn, processed and stored like uploads, for a few patients, idempotent."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from clinic import demo as clinic_demo
from tests.treatments.test_photos import read_stored
from treatments import demo as treatments_demo
from treatments.consent import has_consent
from treatments.models import Scope
from treatments.photos import demo
from treatments.photos.models import Photo, PhotoTag

pytestmark = pytest.mark.django_db


def test_the_demo_photographs_a_few_patients_across_sessions_and_runs_once(client_for, time_machine):
    time_machine.move_to(timezone.now(), tick=False)  # both runs on the same demo "today"
    locations, users = clinic_demo.seed(stdout=io.StringIO())
    treatments_demo.seed(locations=locations, users=users, stdout=io.StringIO())
    out = io.StringIO()

    demo.seed(locations=locations, users=users, stdout=out)

    photos = list(Photo.objects.select_related("patient", "session"))
    patients = {p.patient for p in photos}
    assert 2 <= len(patients) <= 4
    assert "demo photos stored" in out.getvalue()
    for patient in patients:
        assert has_consent(patient, Scope.PHOTOGRAPHY)
        assert len({p.session_id for p in photos if p.patient == patient}) >= 2
    assert {p.tag for p in photos} >= {PhotoTag.BEFORE, PhotoTag.AFTER}
    # What is stored went through processing: the demo camera's GPS and comment are gone.
    sample = photos[0]
    content = read_stored(sample.display_name)
    assert b"GPS" not in content and b"demo camera" not in content
    with Image.open(io.BytesIO(content)) as stored:
        assert len(stored.getexif()) == 0

    count = len(photos)
    demo.seed(locations=locations, users=users, stdout=io.StringIO())
    assert Photo.objects.count() == count

    patient = sample.patient
    response = client_for(users["manager"]).get(reverse("photos:compare", args=[patient.pk]))
    assert response.status_code == 200
    assert response.context["left"].session.starts_at < response.context["right"].session.starts_at
