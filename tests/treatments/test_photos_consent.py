"""Photos against real consents, signed and withdrawn through the consent services (no patching)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from clinic.models import AuditEvent
from tests.treatments import test_photos as shared
from tests.treatments.factories import sign_consent
from tests.treatments.test_photos import jpeg, upload
from treatments.models import Scope
from treatments.photos.models import Photo
from treatments.photos.services import photo_flag_marketing, photo_upload
from treatments.services import consent_withdraw

pytestmark = pytest.mark.django_db

photo_patient = shared.photo_patient
photo_session = shared.photo_session


def test_without_a_signed_photography_consent_nothing_can_be_uploaded(photo_session, practitioner):
    sign_consent(photo_session.patient, practitioner)  # treatment only

    with pytest.raises(ValidationError, match="no clinical-photography consent"):
        photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg())])
    assert Photo.objects.count() == 0


def test_marketing_needs_its_own_tick_on_the_consent(photo_session, practitioner):
    patient = photo_session.patient
    sign_consent(patient, practitioner, scope_photography=True)
    [outcome] = photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg())])
    assert outcome.ok

    with pytest.raises(ValidationError, match="not consented to their photos being used for marketing"):
        photo_flag_marketing(actor=practitioner, photo=outcome.photo, marketing_use=True)

    sign_consent(patient, practitioner, scope_photography=True, scope_marketing=True)
    photo = photo_flag_marketing(actor=practitioner, photo=outcome.photo, marketing_use=True)
    assert photo.marketing_use is True


def test_withdrawing_photography_hides_photos_from_practitioners_but_not_managers(
    client_for, photo_session, practitioner, manager
):
    consent = sign_consent(photo_session.patient, practitioner, scope_photography=True)
    [outcome] = photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg())])
    photo = outcome.photo
    file_url = reverse("photos:photo_file", args=[photo.pk, "thumb"])
    gallery = reverse("photos:gallery", args=[photo.patient_id])
    prac = client_for(practitioner)
    assert prac.get(file_url).status_code == 200
    assert prac.get(gallery).status_code == 200

    consent_withdraw(actor=practitioner, consent=consent, reason="Patient asked", scopes=[Scope.PHOTOGRAPHY])

    assert prac.get(file_url).status_code == 403
    assert prac.get(gallery).status_code == 403
    refused = AuditEvent.objects.filter(action="photo.view_refused", actor=practitioner)
    assert sorted(e.after["what"] for e in refused) == ["gallery", "thumb"]
    # The photo row itself is untouched: visibility is decided when it is read.
    photo.refresh_from_db()
    assert photo.retired_at is None

    mgr = client_for(manager)
    assert mgr.get(file_url).status_code == 200
    assert mgr.get(gallery).status_code == 200
    with pytest.raises(ValidationError):
        photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg())])


def test_gallery_queries_stay_constant_with_the_real_consent_check(
    client_for, photo_session, practitioner, django_assert_num_queries
):
    sign_consent(photo_session.patient, practitioner, scope_photography=True)
    client = client_for(practitioner)
    url = reverse("photos:gallery", args=[photo_session.patient_id])
    photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg())])
    client.get(url)
    with django_assert_num_queries(10, info="one photo"):
        client.get(url)
    photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg()) for _ in range(4)])
    with django_assert_num_queries(10, info="five photos"):
        assert client.get(url).context["count"] == 5
