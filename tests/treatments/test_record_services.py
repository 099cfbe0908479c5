"""treatment_record_save: every gate, all-or-nothing with the ledger, stale lots, warnings vs refusals;
signing locks the record; corrections are addenda."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinic.models import AuditEvent
from products.models import Lot, OpenedVial, StockMovement, VialDraw
from products.services import lot_quarantine, stock_use, vial_open
from tests.treatments.factories import (
    PatientFactory,
    chart,
    charting_lot,
    line_input,
    ready_session,
    screen,
    sign_consent,
)
from treatments.models import ProductLine, SessionStatus, TreatmentPlan, TreatmentRecord
from treatments.services import (
    consent_withdraw,
    screening_override,
    session_complete,
    treatment_record_addendum,
    treatment_record_sign,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lot(location):
    return charting_lot(location, quantity=10)


@pytest.fixture
def session(patient, practitioner):
    return ready_session(patient, practitioner)


def _on_hand(lot) -> int:
    return Lot.objects.get(pk=lot.pk).quantity_on_hand


def _refused(session, practitioner, *lines, match: str, **kwargs):
    with pytest.raises(ValidationError) as exc:
        chart(session, practitioner, *lines, **kwargs)
    assert any(match in m for m in exc.value.messages), exc.value.messages
    assert not TreatmentRecord.objects.filter(session=session).exists()
    return exc.value


# --- The happy path ----------------------------------------------------------------------


def test_charting_draws_the_stock_in_the_same_save(session, practitioner, lot):
    result = chart(session, practitioner, line_input(lot, vials=2, volume_ml="1.5"))
    record = result.record
    assert result.created
    assert _on_hand(lot) == 8
    line = record.lines.get()
    assert (line.vials, line.volume_ml, line.route, line.areas) == (
        2,
        Decimal("1.5"),
        "intradermal",
        ["face"],
    )
    movement = StockMovement.objects.get(lot=lot, kind="used")
    assert movement.quantity == -2 and movement.reference == f"treatment record {record.pk}"
    assert line.stock_movement == movement
    assert record.consent.template.treatment_type == session.treatment_type
    assert record.screening.session == session
    assert AuditEvent.objects.filter(action="treatment_record.create", object_id=str(record.pk)).exists()


def test_drawing_from_an_already_opened_vial(session, practitioner, lot):
    vial = vial_open(lot=lot, actor=practitioner)
    chart(
        session, practitioner, line_input(lot, source="opened", opened_vial=vial, volume_ml="1.2", vials=None)
    )
    vial.refresh_from_db()
    assert vial.volume_drawn_ml == Decimal("1.2")
    assert _on_hand(lot) == 9  # only the opening took a sealed vial
    assert VialDraw.objects.get(vial=vial).reference.startswith("treatment record")


def test_opening_a_new_vial_then_drawing(session, practitioner, lot):
    chart(session, practitioner, line_input(lot, source="open_new", volume_ml="2", vials=None))
    vial = OpenedVial.objects.get(lot=lot)
    assert vial.volume_drawn_ml == Decimal("2")
    assert _on_hand(lot) == 9
    assert ProductLine.objects.get().opened_vial == vial


def test_several_lines_and_an_adverse_event(session, practitioner, lot, location):
    from treatments.services import AdverseEventInput

    second = charting_lot(location, quantity=5)
    result = chart(
        session,
        practitioner,
        line_input(lot, vials=1),
        line_input(second, vials=1, route="topical", areas=["neck", "decolletage"]),
        adverse_events=[AdverseEventInput("Bruising", "mild", "Cold compress, advice given")],
        anaesthesia="topical",
        post_care="No make-up for 24 h",
    )
    assert result.record.lines.count() == 2
    assert result.record.adverse_events.get().severity == "mild"
    assert (_on_hand(lot), _on_hand(second)) == (9, 4)


# --- Gates ------------------------------------------------------------------------------


def test_no_consent_is_refused(patient, practitioner, lot):
    from tests.treatments.factories import SessionFactory

    session = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT)
    screen(patient, practitioner, session=session)
    _refused(session, practitioner, line_input(lot), match="no valid consent")
    assert _on_hand(lot) == 10


def test_withdrawn_consent_is_refused(session, practitioner, lot, patient):
    consent_withdraw(actor=practitioner, consent=patient.consents.get(), reason="Patient changed her mind")
    _refused(session, practitioner, line_input(lot), match="no valid consent")
    assert _on_hand(lot) == 10


def test_consent_for_another_treatment_type_is_refused(patient, practitioner, lot):
    from treatments.models import PatientConsent

    session = ready_session(patient, practitioner, treatment_type="hair")

    # The only consent is for hair; chart a skin-quality session.
    session.treatment_type = "skin_quality"
    session.save()
    assert PatientConsent.objects.filter(patient=patient).count() == 1
    _refused(session, practitioner, line_input(lot), match="does not cover")


def test_the_checks_must_be_ticked(session, practitioner, lot):
    _refused(
        session, practitioner, line_input(lot), match="checked the patient's consent", consent_checked=False
    )
    _refused(
        session, practitioner, line_input(lot), match="screening was confirmed", screening_confirmed=False
    )


def test_no_screening_for_this_visit_is_refused(patient, practitioner, lot):
    from tests.treatments.factories import SessionFactory

    screen(patient, practitioner)  # an earlier screening, not this visit's
    session = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.ARRIVED)
    sign_consent(patient, practitioner)
    _refused(session, practitioner, line_input(lot), match="not been confirmed for this visit")


def test_contraindication_without_override_is_refused(patient, practitioner, lot):
    session = ready_session(patient, practitioner, skin_infection_at_site=True)
    _refused(session, practitioner, line_input(lot), match="contraindicates treatment")
    assert _on_hand(lot) == 10


def test_contraindication_with_override_is_allowed_and_audited(patient, practitioner, lot):
    session = ready_session(
        patient, practitioner, cancer_past=True, details="Breast cancer 2009, clear since"
    )
    screening = session.screenings.get()
    screening_override(
        actor=practitioner, screening=screening, reason="Oncologist letter on file; 15 years clear."
    )
    result = chart(session, practitioner, line_input(lot))
    assert result.record.screening == screening
    assert AuditEvent.objects.filter(action="screening.override", object_id=str(screening.pk)).exists()


def test_an_uncleared_lot_is_refused_with_the_reason(session, practitioner, lot):
    problem = "No certificate of analysis on file for this lot."
    with mock.patch("products.compliance.lot_clearance_problems", return_value=[problem]):
        error = _refused(session, practitioner, line_input(lot), match=problem)
    assert str(lot.lot_number) in " ".join(error.messages)
    assert _on_hand(lot) == 10


def test_a_route_the_product_is_not_labelled_for_is_refused(session, practitioner, lot):
    _refused(session, practitioner, line_input(lot, route="scalp", areas=["scalp"]), match="not labelled for")


def test_periorbital_needs_a_product_made_for_it(session, practitioner, lot, location):
    _refused(session, practitioner, line_input(lot, areas=["face", "periorbital"]), match="periorbital")
    suitable = charting_lot(location, periorbital_suitable=True)
    chart(session, practitioner, line_input(suitable, areas=["periorbital"]))
    assert _on_hand(suitable) == 9


def test_a_lot_at_another_location_is_refused(session, practitioner, other_location):
    far = charting_lot(other_location)
    _refused(session, practitioner, line_input(far), match="not stocked at")


def test_a_session_not_attended_cannot_be_charted(patient, practitioner, lot):
    session = ready_session(patient, practitioner)
    session.status = SessionStatus.BOOKED
    session.save()
    with pytest.raises(ValidationError, match="only a session the patient"):
        chart(session, practitioner, line_input(lot))


def test_the_front_desk_cannot_chart(session, front_desk, lot):
    with pytest.raises(PermissionDenied):
        chart(session, front_desk, line_input(lot))


# --- All or nothing, stale lots ------------------------------------------------------------


def test_a_failing_second_line_leaves_the_first_lines_stock_untouched(session, practitioner, lot, location):
    second = charting_lot(location, quantity=1)
    # The check before the ledger passes (1 on hand); a colleague takes it just before our draw.
    real_stock_use = stock_use
    calls = []

    def colleague_first(**kwargs):
        calls.append(kwargs["lot"].pk)
        if kwargs["lot"].pk == second.pk:
            real_stock_use(lot=second, quantity=1, actor=None, reference="colleague")
        return real_stock_use(**kwargs)

    with (
        mock.patch("treatments.services.records.stock_use", side_effect=colleague_first),
        pytest.raises(ValidationError) as exc,
    ):
        chart(session, practitioner, line_input(lot, vials=3), line_input(second, vials=1))
    assert calls == [lot.pk, second.pk]
    assert "Line 2" in exc.value.messages[0]
    # Everything rolled back: the first line's three vials, the record, even the colleague's
    # draw made inside our transaction.
    assert _on_hand(lot) == 10
    assert not TreatmentRecord.objects.exists() and not ProductLine.objects.exists()
    assert not StockMovement.objects.filter(kind="used").exists()
    assert not AuditEvent.objects.filter(action="treatment_record.create").exists()


def test_a_second_line_over_the_lot_is_refused_and_nothing_moves(session, practitioner, lot, location):
    second = charting_lot(location, quantity=2)
    _refused(
        session, practitioner, line_input(lot, vials=3), line_input(second, vials=5), match="only 2 vial(s)"
    )
    assert (_on_hand(lot), _on_hand(second)) == (10, 2)


def test_a_lot_quarantined_after_the_form_opened_fails_cleanly(session, practitioner, manager, lot):
    offered = Lot.objects.get(pk=lot.pk)  # what the form loaded
    lot_quarantine(lot=lot, actor=manager, reason="Fridge excursion")
    _refused(session, practitioner, line_input(offered), match="quarantined")
    assert _on_hand(lot) == 10


def test_a_lot_used_up_by_a_colleague_fails_cleanly(session, practitioner, lot):
    offered = Lot.objects.get(pk=lot.pk)
    stock_use(lot=lot, quantity=10, actor=practitioner, reference="colleague")
    _refused(session, practitioner, line_input(offered), match="vial")
    assert _on_hand(lot) == 0


def test_a_lot_that_expired_since_fails_cleanly(session, practitioner, lot):
    offered = Lot.objects.get(pk=lot.pk)
    Lot.objects.filter(pk=lot.pk).update(expiry_date=timezone.localdate() - dt.timedelta(days=1))
    _refused(session, practitioner, line_input(offered), match="expired")
    assert _on_hand(lot) == 10


def test_an_opened_vial_of_a_quarantined_lot_is_not_used(session, practitioner, manager, lot):
    vial = vial_open(lot=lot, actor=practitioner)
    lot_quarantine(lot=lot, actor=manager, reason="Recall notice pending")
    _refused(
        session,
        practitioner,
        line_input(lot, source="opened", opened_vial=vial, volume_ml="1", vials=None),
        match="quarantined",
    )
    vial.refresh_from_db()
    assert vial.volume_drawn_ml == 0


# --- Impossible values are refused; unusual ones are warnings ------------------------------


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"vials": 0}, "at least 1"),
        ({"vials": -1}, "at least 1"),
        ({"vials": 11}, "only 10 vial(s)"),
        ({"vials": 1, "volume_ml": "6"}, "more than 1 vial(s) hold"),
        ({"source": "open_new", "vials": None, "volume_ml": "0"}, "above zero"),
        ({"source": "open_new", "vials": None, "volume_ml": "-1"}, "above zero"),
        ({"source": "open_new", "vials": None, "volume_ml": "9"}, "more than one vial holds"),
        ({"volume_per_point_ml": Decimal("0")}, "per point must be above zero"),
        ({"points": 0}, "points must be at least 1"),
        ({"needle_gauge": 3}, "not a needle gauge"),
        ({"depth_mm": Decimal("-1")}, "depth must be above zero"),
        ({"volume_ml": "0.5", "volume_per_point_ml": Decimal("0.8")}, "more than the 0.5 mL"),
        ({"areas": []}, "at least one area"),
    ],
)
def test_impossible_values_are_refused(session, practitioner, lot, fields, match):
    _refused(session, practitioner, line_input(lot, **fields), match=match)
    assert _on_hand(lot) == 10


def test_more_than_an_opened_vial_holds_is_refused(session, practitioner, lot):
    vial = vial_open(lot=lot, actor=practitioner)
    _refused(
        session,
        practitioner,
        line_input(lot, source="opened", opened_vial=vial, volume_ml="5.5", vials=None),
        match="only 5.00 mL is left",
    )


def test_unusual_values_are_saved_with_a_visible_warning(session, practitioner, lot):
    result = chart(
        session,
        practitioner,
        line_input(
            lot,
            volume_ml="2",
            volume_per_point_ml=Decimal("0.05"),
            needle_gauge=27,
            spacing_cm=Decimal("3"),
            points=20,
        ),
    )
    text = " ".join(result.warnings)
    assert "outside the usual 0.01–0.02 mL" in text
    assert "27G is outside the usual 30–32G" in text
    assert "spacing is outside" in text
    assert result.record.lines.get().warnings == result.warnings
    assert _on_hand(lot) == 9


def test_usual_values_give_no_warning(session, practitioner, lot):
    result = chart(
        session,
        practitioner,
        line_input(lot, volume_ml="1", volume_per_point_ml=Decimal("0.015"), needle_gauge=31, points=60),
    )
    assert result.warnings == []


def test_scalp_ranges(patient, practitioner, location):
    lot = charting_lot(location, route_scalp=True)
    session = ready_session(patient, practitioner, treatment_type="hair")
    result = chart(
        session,
        practitioner,
        line_input(lot, route="scalp", areas=["scalp"], volume_per_point_ml=Decimal("0.01"), needle_gauge=32),
    )
    assert any("0.02–0.05 mL" in w for w in result.warnings)
    assert any("30–31G" in w for w in result.warnings)


def test_topical_without_open_microchannels_is_a_warning(session, practitioner, lot):
    result = chart(session, practitioner, line_input(lot, route="topical"), combined_procedure="")
    assert any("do not penetrate intact skin" in w for w in result.warnings)


# --- Sign-off, lock, addenda, completing ------------------------------------------------


def test_signing_locks_the_record(session, practitioner, lot):
    record = chart(session, practitioner, line_input(lot)).record
    treatment_record_sign(actor=practitioner, record=record)
    record.refresh_from_db()
    assert record.is_signed and record.signed_by == practitioner
    with pytest.raises(ValidationError, match="signed and locked"):
        chart(session, practitioner, line_input(lot))
    assert _on_hand(lot) == 9
    with pytest.raises(ValidationError, match="already signed"):
        treatment_record_sign(actor=practitioner, record=record)


def test_only_the_charting_practitioner_signs(session, practitioner, nurse, manager, lot):
    record = chart(session, practitioner, line_input(lot)).record
    with pytest.raises(ValidationError, match="who charted"):
        treatment_record_sign(actor=nurse, record=record)
    with pytest.raises(PermissionDenied):
        treatment_record_sign(actor=manager, record=record)


def test_an_unsigned_record_can_take_more_lines(session, practitioner, lot):
    chart(session, practitioner, line_input(lot))
    result = chart(session, practitioner, line_input(lot, vials=2), notes="Second pass")
    assert not result.created
    assert result.record.lines.count() == 2 and result.record.notes == "Second pass"
    assert _on_hand(lot) == 7


def test_corrections_are_addenda_and_audited(session, practitioner, lot):
    record = chart(session, practitioner, line_input(lot), notes="Original note").record
    with pytest.raises(ValidationError, match="not signed yet"):
        treatment_record_addendum(actor=practitioner, record=record, reason="typo", text="x")
    treatment_record_sign(actor=practitioner, record=record)
    with pytest.raises(ValidationError, match="reason"):
        treatment_record_addendum(actor=practitioner, record=record, reason="", text="x")
    addendum = treatment_record_addendum(
        actor=practitioner, record=record, reason="Wrong area recorded", text="Neck as well as face."
    )
    record.refresh_from_db()
    assert record.notes == "Original note"
    assert list(record.addenda.all()) == [addendum]
    event = AuditEvent.objects.get(action="treatment_record.addendum")
    assert event.after["reason"] == "Wrong area recorded"


def test_completing_after_signing_moves_the_plan_on(patient, practitioner, lot):
    from tests.treatments.factories import PlanFactory

    plan = PlanFactory(patient=patient)
    session = ready_session(patient, practitioner)
    session.plan = plan
    session.save()
    record = chart(session, practitioner, line_input(lot)).record
    with pytest.raises(ValidationError, match="Sign the treatment record"):
        session_complete(actor=practitioner, session=session)
    treatment_record_sign(actor=practitioner, record=record)
    session_complete(actor=practitioner, session=session)
    plan = TreatmentPlan.objects.get(pk=plan.pk)
    assert plan.completed_sessions == 1 and plan.next_due_on is not None


# --- The injection map ------------------------------------------------------------------------


def _points(n, volume="0.02", view="face_front", depth="1.0"):
    from treatments.injection_map import MapPoint

    return [
        MapPoint(view, Decimal(f"0.{3000 + k * 10}"), Decimal("0.4000"), Decimal(volume), Decimal(depth))
        for k in range(n)
    ]


def test_map_points_are_saved_numbered_and_the_line_follows_them(location, practitioner):
    from treatments.models import InjectionPoint

    session = ready_session(PatientFactory(location=location), practitioner)
    lot = charting_lot(location)
    points = _points(3) + _points(1, volume="0.01", view="face_left")
    result = chart(
        session,
        practitioner,
        line_input(lot, points=99, volume_per_point_ml=Decimal("0.5"), map_points=points),
    )
    line = result.record.lines.get()
    assert line.points == 4 and line.volume_per_point_ml is None  # the points' volumes differ
    saved = list(InjectionPoint.objects.filter(line=line).order_by("number"))
    assert [(p.number, p.view) for p in saved] == [
        (1, "face_front"),
        (2, "face_front"),
        (3, "face_front"),
        (4, "face_left"),
    ]
    assert saved[0].x == Decimal("0.3000") and saved[3].volume_ml == Decimal("0.010")
    # Drawn: one 5 mL vial; the map holds 0.07 mL: a warning, not a refusal.
    assert any("the map totals 0.07 mL; 5.00 mL is recorded as drawn" in w for w in result.warnings)


def test_equal_point_volumes_become_the_lines_volume_per_point(location, practitioner):
    session = ready_session(PatientFactory(location=location), practitioner)
    lot = charting_lot(location)
    line = chart(
        session, practitioner, line_input(lot, map_points=_points(5, volume="0.015"))
    ).record.lines.get()
    assert (line.points, line.volume_per_point_ml) == (5, Decimal("0.015"))


def test_a_topical_line_has_no_injection_points(location, practitioner):
    session = ready_session(PatientFactory(location=location), practitioner)
    lot = charting_lot(location)
    _refused(
        session,
        practitioner,
        line_input(lot, route="topical", map_points=_points(2)),
        match="topical application has no injection points",
    )


def test_map_points_outside_the_usual_volume_are_counted_in_one_warning(location, practitioner):
    session = ready_session(PatientFactory(location=location), practitioner)
    lot = charting_lot(location)
    result = chart(session, practitioner, line_input(lot, map_points=_points(3, volume="0.1")))
    assert [w for w in result.warnings if "point(s) on the map" in w] == [
        f"Line 1 ({lot.product} lot {lot.lot_number}): "
        "3 point(s) on the map are outside the usual 0.01–0.02 mL per point."
    ]
