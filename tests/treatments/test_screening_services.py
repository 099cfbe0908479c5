"""Screening: the questionnaire, confirmation at each visit, and audited overrides."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from clinic.models import AuditEvent
from tests.treatments.factories import SessionFactory, screen
from treatments.models import SessionStatus
from treatments.services import screening_confirm, screening_override, screening_record

pytestmark = pytest.mark.django_db


def test_all_no_answers_contraindicate_nothing(patient, practitioner):
    screening = screen(patient, practitioner)
    assert screening.contraindications == []
    assert not screening.blocks_treatment
    assert AuditEvent.objects.filter(action="screening.record").exists()


def test_contraindicating_answers_block_until_overridden(patient, practitioner):
    screening = screen(patient, practitioner, anticoagulants_or_platelet_disorder=True, details="Warfarin")
    assert screening.contraindications == ["Takes anticoagulants or has a platelet disorder"]
    assert screening.blocks_treatment
    screening_override(
        actor=practitioner,
        screening=screening,
        reason="INR checked today, 2.1; nappage only, pressure applied.",
    )
    screening.refresh_from_db()
    assert screening.is_overridden and not screening.blocks_treatment
    event = AuditEvent.objects.get(action="screening.override")
    assert event.actor == practitioner
    assert "INR" in event.after["reason"]


def test_recent_procedures_are_a_caution_not_a_block(patient, practitioner):
    screening = screen(patient, practitioner, recent_procedures=True, details="Laser 3 weeks ago")
    assert screening.cautions and not screening.blocks_treatment


def test_a_yes_needs_details(patient, practitioner):
    with pytest.raises(ValidationError, match="details"):
        screening_record(actor=practitioner, patient=patient, answers={"pregnant_or_breastfeeding": True})


def test_override_needs_a_written_reason_and_a_practitioner(patient, practitioner, manager):
    screening = screen(patient, practitioner, pregnant_or_breastfeeding=True)
    with pytest.raises(ValidationError, match="reason"):
        screening_override(actor=practitioner, screening=screening, reason="ok")
    with pytest.raises(PermissionDenied):
        screening_override(actor=manager, screening=screening, reason="A long enough reason for this.")
    assert not AuditEvent.objects.filter(action="screening.override").exists()


def test_nothing_to_override_without_a_contraindication(patient, practitioner):
    screening = screen(patient, practitioner)
    with pytest.raises(ValidationError, match="nothing to override"):
        screening_override(actor=practitioner, screening=screening, reason="A long enough reason for this.")


def test_confirming_at_a_visit_copies_the_last_answers(patient, practitioner):
    first = screen(patient, practitioner, allergy_to_components=True, details="Hyaluronidase")
    session = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.ARRIVED)
    visit = screening_confirm(actor=practitioner, session=session)
    assert visit.session == session and visit.confirms == first
    assert visit.allergy_to_components and visit.details == "Hyaluronidase"
    # The override of the first answers does not carry over: each visit is decided anew.
    assert visit.blocks_treatment


def test_confirming_needs_a_first_questionnaire(patient, practitioner):
    session = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.ARRIVED)
    with pytest.raises(ValidationError, match="never been screened"):
        screening_confirm(actor=practitioner, session=session)
