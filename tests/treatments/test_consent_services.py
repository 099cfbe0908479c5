"""Consent: versioned templates, signing with a drawn signature, scopes and withdrawal."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.utils import timezone

from clinic.models import AuditEvent
from tests.treatments.factories import consent_template, sign_consent, signature_data_url, signature_png
from treatments.consent import has_consent, treatment_consent_for
from treatments.models import EVIDENCE_DISCLOSURE, ConsentTemplate, Scope, TreatmentType
from treatments.services import consent_sign, consent_template_publish, consent_withdraw

pytestmark = pytest.mark.django_db


def test_publishing_makes_a_new_version_and_leaves_the_signed_one_alone(patient, practitioner, manager):
    v1 = consent_template(actor=manager)
    consent = sign_consent(patient, practitioner)
    v2 = consent_template_publish(
        actor=manager, treatment_type=v1.treatment_type, title=v1.title, body="A revised text."
    )
    assert (v1.version, v2.version) == (1, 2)
    consent.refresh_from_db()
    assert consent.template == v1
    assert ConsentTemplate.objects.get(pk=v1.pk).body == v1.body
    assert ConsentTemplate.current(v1.treatment_type) == v2
    assert AuditEvent.objects.filter(action="consent_template.publish").count() == 2


def test_a_published_version_cannot_be_edited(manager):
    template = consent_template(actor=manager)
    template.body = "changed"
    with pytest.raises(ValueError, match="cannot be changed"):
        template.save()


def test_every_version_carries_the_emerging_evidence_disclosure(manager):
    template = consent_template(actor=manager)
    assert template.evidence_disclosure == EVIDENCE_DISCLOSURE
    assert "phase 3" in template.evidence_disclosure
    assert "still emerging" in template.evidence_disclosure


def test_signing_stores_the_signature_privately_and_grants_the_chosen_scopes(patient, practitioner):
    consent = sign_consent(patient, practitioner, scope_photography=True)
    assert storages["private"].exists(consent.signature_name)
    assert consent.signature_name.startswith("consents/signatures/")
    assert len(consent.signature_sha256) == 64
    assert consent.practitioner == practitioner
    assert has_consent(patient, Scope.TREATMENT)
    assert has_consent(patient, Scope.PHOTOGRAPHY)
    assert not has_consent(patient, Scope.MARKETING)
    assert treatment_consent_for(patient, TreatmentType.SKIN_QUALITY) == consent
    assert treatment_consent_for(patient, TreatmentType.HAIR) is None
    assert AuditEvent.objects.filter(action="consent.sign", object_id=str(consent.pk)).exists()


def test_no_consent_means_no_scope(patient):
    for scope in Scope.values:
        assert not has_consent(patient, scope)


def _sign(patient, practitioner, signature: str, **kwargs):
    return consent_sign(
        actor=practitioner,
        patient=patient,
        template=consent_template(),
        typed_name="Jane Doe",
        signature_data_url=signature,
        **kwargs,
    )


@pytest.mark.parametrize(
    "signature, message",
    [
        ("", "has not signed"),
        ("data:image/jpeg;base64,/9j/4AAQ", "must be a PNG"),
        ("data:image/png;base64,not base64!!", "could not be read"),
        ("data:image/png;base64," + base64.b64encode(b"GIF89a-not-a-png").decode(), "not a PNG"),
        ("data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\ngarbage").decode(), "damaged"),
    ],
)
def test_signatures_that_are_not_real_pngs_are_refused(patient, practitioner, signature, message):
    with pytest.raises(ValidationError, match=message):
        _sign(patient, practitioner, signature)
    assert not patient.consents.exists()


def test_a_blank_signature_pad_is_refused(patient, practitioner):
    with pytest.raises(ValidationError, match="empty"):
        _sign(patient, practitioner, signature_data_url(blank=True))


def test_an_oversized_signature_is_refused(patient, practitioner):
    huge = "data:image/png;base64," + base64.b64encode(signature_png() + b"\0" * 600_000).decode()
    with pytest.raises(ValidationError, match=r"too large|larger"):
        _sign(patient, practitioner, huge)


def test_an_old_version_cannot_be_signed(patient, practitioner, manager):
    v1 = consent_template(actor=manager)
    consent_template_publish(actor=manager, treatment_type=v1.treatment_type, title="v2", body="New text.")
    with pytest.raises(ValidationError, match="newer version"):
        consent_sign(
            actor=practitioner,
            patient=patient,
            template=v1,
            typed_name="Jane Doe",
            signature_data_url=signature_data_url(),
        )


def test_marketing_needs_photography_and_some_scope_is_needed(patient, practitioner):
    with pytest.raises(ValidationError, match="clinical photography too"):
        _sign(patient, practitioner, signature_data_url(), scope_marketing=True)
    with pytest.raises(ValidationError, match="at least one"):
        _sign(patient, practitioner, signature_data_url(), scope_treatment=False)


def test_the_typed_name_is_required(patient, practitioner):
    with pytest.raises(ValidationError):
        consent_sign(
            actor=practitioner,
            patient=patient,
            template=consent_template(),
            typed_name="  ",
            signature_data_url=signature_data_url(),
        )


def test_another_locations_practitioner_cannot_record_a_consent(other_patient, practitioner):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        sign_consent(other_patient, practitioner)


def test_withdrawing_one_scope_takes_effect_at_once_and_keeps_history(patient, practitioner):
    consent = sign_consent(patient, practitioner, scope_photography=True, scope_marketing=True)
    before = timezone.now()
    consent_withdraw(actor=practitioner, consent=consent, scopes=[Scope.MARKETING], reason="Changed her mind")
    assert not has_consent(patient, Scope.MARKETING)
    assert has_consent(patient, Scope.PHOTOGRAPHY)
    assert has_consent(patient, Scope.TREATMENT)
    # Before the withdrawal the opt-in held (history answers as it was).
    assert has_consent(patient, Scope.MARKETING, at=before)
    event = AuditEvent.objects.get(action="consent.withdraw")
    assert event.after["reason"] == "Changed her mind"


def test_withdrawing_everything(patient, practitioner):
    consent = sign_consent(patient, practitioner, scope_photography=True)
    rows = consent_withdraw(actor=practitioner, consent=consent, reason="Moving abroad")
    assert {r.scope for r in rows} == {Scope.TREATMENT, Scope.PHOTOGRAPHY}
    assert not has_consent(patient, Scope.TREATMENT)
    assert not has_consent(patient, Scope.PHOTOGRAPHY)
    assert treatment_consent_for(patient, TreatmentType.SKIN_QUALITY) is None
    with pytest.raises(ValidationError, match="Nothing left"):
        consent_withdraw(actor=practitioner, consent=consent, reason="again")


def test_withdrawal_needs_a_reason_and_a_given_scope(patient, practitioner):
    consent = sign_consent(patient, practitioner)
    with pytest.raises(ValidationError, match="why"):
        consent_withdraw(actor=practitioner, consent=consent, reason=" ")
    with pytest.raises(ValidationError, match="not given"):
        consent_withdraw(actor=practitioner, consent=consent, scopes=[Scope.MARKETING], reason="No")


def test_the_latest_consent_decides_photo_choices(patient, practitioner):
    with time_machine.travel(timezone.now() - dt.timedelta(days=30), tick=False):
        sign_consent(patient, practitioner, scope_photography=True, scope_marketing=True)
    assert has_consent(patient, Scope.MARKETING)
    sign_consent(patient, practitioner, scope_photography=True)
    assert not has_consent(patient, Scope.MARKETING)
    assert has_consent(patient, Scope.MARKETING, at=timezone.now() - dt.timedelta(days=1))


def test_a_consent_signed_later_does_not_count_earlier(patient, practitioner):
    consent = sign_consent(patient, practitioner)
    assert not has_consent(patient, Scope.TREATMENT, at=consent.signed_at - dt.timedelta(seconds=1))


def test_unknown_scope_is_a_programming_error(patient):
    with pytest.raises(ValueError):
        has_consent(patient, "tattoo")
