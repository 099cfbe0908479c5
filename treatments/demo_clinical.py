"""Clinical demo data: consent templates, signed consents, screening and signed treatment
histories across routes and products. Called by ``treatments.demo.seed``; idempotent.

Everything goes through the services (the consent signature is a real PNG, stock is drawn
through the products ledger), then the times are moved back to the session they belong to:
history in the past cannot be written "now" by a service. Lots are chosen as the form offers
them (usable at the session's location, first expiry first, cleared by
``products.compliance``, labelled and classified for the route), so the demo never charts
a lot the gates would refuse.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from decimal import Decimal

from django.utils import timezone

from products import compliance
from products.demo import ledger_rebalance
from products.models import Lot, OpenedVial, StockMovement
from treatments.consent import treatment_consent_for
from treatments.models import (
    ConsentTemplate,
    Patient,
    PatientConsent,
    Screening,
    Session,
    SessionStatus,
    TreatmentRecord,
    TreatmentType,
)
from treatments.services import (
    AdverseEventInput,
    LineInput,
    consent_sign,
    consent_template_publish,
    consent_withdraw,
    screening_override,
    screening_record,
    treatment_record_addendum,
    treatment_record_save,
    treatment_record_sign,
)

TEMPLATE_TEXT = {
    TreatmentType.SKIN_QUALITY: (
        "Consent to skin-quality treatment with exosomes by injection",
        "Exosome products are injected into the skin (nappage: many small superficial injections, "
        "0.01–0.02 mL each) to improve skin quality. Usually three sessions four weeks apart, then "
        "maintenance every three to four months.\n\nRisks: redness, swelling, pinpoint bleeding and "
        "bruising for a few days; rarely infection, lumps or an allergic reaction.\n\nAlternatives: "
        "skin boosters, polynucleotides, PRP, or no treatment.\n\nAftercare: no make-up for 12 hours, "
        "no sauna or exercise for 24 hours, daily sun protection.",
    ),
    TreatmentType.HAIR: (
        "Consent to scalp treatment with exosomes",
        "Exosome products are injected into the scalp (0.02–0.05 mL per point), often under a "
        "nerve block. Usually four to six monthly sessions, then maintenance every two to three "
        "months.\n\nRisks: tenderness, swelling, headache, bruising; rarely infection.\n\n"
        "Alternatives: minoxidil, finasteride, PRP, or no treatment.\n\nAftercare: no hair washing "
        "for 12 hours, no hair dye for 72 hours.",
    ),
    TreatmentType.POST_PROCEDURE: (
        "Consent to exosome application after a procedure",
        "An exosome product is applied to the skin straight after microneedling, fractional laser "
        "or RF microneedling, while the microchannels are open.\n\nRisks: stinging, redness, rarely "
        "irritation or an allergic reaction.\n\nAftercare: as for the procedure itself.",
    ),
    TreatmentType.SCAR: (
        "Consent to scar treatment with exosomes",
        "Exosome products are applied after microneedling or laser, or injected, to improve atrophic "
        "(acne) scars over several sessions.\n\nRisks: redness, swelling, bruising, rarely infection "
        "or pigment change.\n\nAftercare: sun protection, no picking.",
    ),
    TreatmentType.OTHER: (
        "Consent to exosome treatment",
        "The treatment, its expected benefits, risks and alternatives as discussed with the "
        "practitioner and written below.\n\nRisks: redness, swelling, bruising, rarely infection or "
        "an allergic reaction.",
    ),
}

# Route, areas and technique charted per treatment type (DOMAIN.md usual values).
CHARTING = {
    TreatmentType.SKIN_QUALITY: {
        "route": "intradermal", "areas": ["face", "neck"], "needle_gauge": 31, "depth_mm": Decimal("1"),
        "volume_per_point_ml": Decimal("0.015"), "points": 80, "spacing_cm": Decimal("1"),
        "procedure": "", "anaesthesia": "topical",
    },
    TreatmentType.HAIR: {
        "route": "scalp", "areas": ["scalp"], "needle_gauge": 30, "depth_mm": Decimal("2"),
        "volume_per_point_ml": Decimal("0.03"), "points": 60, "spacing_cm": None,
        "procedure": "", "anaesthesia": "nerve_block",
    },
    "topical": {
        "route": "topical", "areas": ["face"], "needle_gauge": None, "depth_mm": None,
        "volume_per_point_ml": None, "points": None, "spacing_cm": None,
        "procedure": "microneedling", "anaesthesia": "topical",
    },
}  # fmt: skip
MAX_PATIENTS = 10
MAX_RECORDS_PER_PATIENT = 3


def _signature_png(seed: int) -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    x, points = 40, []
    for k in range(9):
        points.append((x + k * 55, 120 + ((seed * 37 + k * 53) % 70) - 35))
    draw.line(points, fill=(17, 17, 17, 255), width=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _templates(manager) -> None:
    for kind, (title, body) in TEMPLATE_TEXT.items():
        if ConsentTemplate.objects.filter(treatment_type=kind).exists():
            continue
        consent_template_publish(actor=manager, treatment_type=kind, title=title, body=body)
        if kind == TreatmentType.SKIN_QUALITY:
            # A second version, so the demo shows that signed consents keep theirs.
            consent_template_publish(
                actor=manager, treatment_type=kind, title=title, body=body + " Avoid retinoids for 48 hours."
            )


def _lot_for(session: Session, route: str) -> Lot | None:
    """The lot the form would offer first for this route (usable, FEFO, cleared, on label)."""
    lots = (
        Lot.objects.usable()
        .fefo()
        .filter(storage_unit__location=session.location, quantity_on_hand__gte=2)
        .select_related("product", "storage_unit")
    )
    for lot in lots:
        if not compliance.lot_clearance_problems(lot) and not compliance.product_route_problems(
            lot.product, route
        ):
            return lot
    return None


def _line(session: Session, kind: str, k: int) -> tuple[LineInput, dict] | None:
    plan = CHARTING.get(kind, CHARTING["topical"])
    lot = _lot_for(session, plan["route"])
    if lot is None and plan["route"] != "topical":
        plan = CHARTING["topical"]
        lot = _lot_for(session, "topical")
    if lot is None:
        return None
    line = LineInput(
        lot=lot,
        source="sealed",
        vials=1,
        route=plan["route"],
        areas=plan["areas"],
        needle_gauge=plan["needle_gauge"],
        depth_mm=plan["depth_mm"],
        volume_per_point_ml=plan["volume_per_point_ml"],
        points=plan["points"],
        spacing_cm=plan["spacing_cm"],
    )
    if plan["route"] == "topical":
        # Today's vial serves today's patients only: a past session drawing from it would put
        # the draw before the opening.
        vial = None
        if timezone.localdate(session.starts_at) == timezone.localdate():
            vial = OpenedVial.objects.in_use().filter(lot=lot).order_by("beyond_use_at").first()
        if vial is not None and vial.volume_left_ml >= 1:
            line.source, line.vials, line.opened_vial, line.volume_ml = "opened", None, vial, Decimal("1")
        else:
            line.volume_ml = min(Decimal("2"), lot.product.opened_volume_ml)
    return line, plan


def _backdate(model, pk: int, **fields) -> None:
    model.objects.filter(pk=pk).update(**fields)


def _patient_history(patient: Patient, sessions: list[Session], i: int, users) -> int:
    """Consent, screening and signed records for one patient's completed sessions."""
    first = sessions[0]
    actor = first.practitioner
    kinds = sorted({s.treatment_type for s in sessions})
    for kind in kinds:
        consent = consent_sign(
            actor=actor,
            patient=patient,
            template=ConsentTemplate.current(kind),
            typed_name=str(patient),
            signature_data_url=_signature_png(patient.pk),
            scope_photography=True,
            scope_marketing=i % 3 == 0,
        )
        _backdate(PatientConsent, consent.pk, signed_at=first.starts_at - dt.timedelta(minutes=20))
        if i == 4:
            consent_withdraw(
                actor=actor, consent=consent, scopes=["photography"], reason="Prefers no photographs."
            )
    answers = {"cancer_past": True} if i == 2 else {}
    details = "Basal cell carcinoma removed 2015; discharged." if answers else ""
    initial = screening_record(actor=actor, patient=patient, answers=answers, details=details)
    _backdate(Screening, initial.pk, answered_at=first.starts_at - dt.timedelta(minutes=15))
    charted = 0
    for k, session in enumerate(sessions[-MAX_RECORDS_PER_PATIENT:]):
        if TreatmentRecord.objects.filter(session=session).exists():
            continue
        made = _line(session, session.treatment_type, k)
        if made is None:
            continue
        line, plan = made
        visit = screening_record(
            actor=session.practitioner, patient=patient, session=session, answers=answers, details=details
        )
        if answers:
            screening_override(
                actor=session.practitioner,
                screening=visit,
                reason="Dermatology discharge letter on file; away from the scar, agreed with the patient.",
            )
        _backdate(Screening, visit.pk, answered_at=session.starts_at)
        events = []
        if i == 1 and k == 0:
            events = [
                AdverseEventInput("Bruising at two injection points", "mild", "Cold compress; settled.")
            ]
        result = treatment_record_save(
            actor=session.practitioner,
            session=session,
            lines=[line],
            screening_confirmed=True,
            consent_checked=True,
            combined_procedure=plan["procedure"],
            combined_settings="Microneedling depth 1.0 mm" if plan["procedure"] else "",
            anaesthesia=plan["anaesthesia"],
            post_care="SPF 50 daily; no make-up 12 h; no sauna or exercise 24 h.",
            notes="Tolerated well.",
            adverse_events=events,
        )
        record = treatment_record_sign(actor=session.practitioner, record=result.record)
        if i == 3 and k == 0:
            treatment_record_addendum(
                actor=session.practitioner,
                record=record,
                reason="Area omitted",
                text="Décolletage treated as well (same product, within the amount recorded).",
            )
        at = session.starts_at + dt.timedelta(minutes=40)
        _backdate(TreatmentRecord, record.pk, created_at=at, updated_at=at, signed_at=at)
        # The vials it used left the ledger at the treatment, not at the seeding.
        StockMovement.objects.filter(
            pk__in=record.lines.exclude(stock_movement=None).values("stock_movement")
        ).update(created_at=session.starts_at + dt.timedelta(minutes=15))
        charted += 1
    return charted


def standard_session(locations) -> Session | None:
    """The demo's standard skin-quality injection session: in the chair at Marylebone now."""
    return (
        Session.objects.filter(
            location=locations["marylebone"],
            status=SessionStatus.ARRIVED,
            treatment_type=TreatmentType.SKIN_QUALITY,
            plan__isnull=False,
            record__isnull=True,
        )
        .select_related("patient", "practitioner")
        .order_by("pk")
        .first()
    )


def _ready_standard_session(locations) -> Session | None:
    """Consent signed and screening confirmed for the standard session, as on the day: what
    is left is charting, which is the practitioner's."""
    session = standard_session(locations)
    if session is None:
        return None
    patient, actor = session.patient, session.practitioner
    if treatment_consent_for(patient, session.treatment_type, session=session) is None:
        consent_sign(
            actor=actor,
            patient=patient,
            template=ConsentTemplate.current(session.treatment_type),
            typed_name=str(patient),
            signature_data_url=_signature_png(patient.pk),
            scope_photography=True,
        )
    if not Screening.objects.filter(session=session).exists():
        screening_record(actor=actor, patient=patient, session=session, answers={}, details="")
    return session


def seed_clinical(*, locations, users, stdout) -> None:
    _templates(users["manager"])
    # Histories are built from sessions completed before today: which of today's sessions
    # are over depends on the hour the demo is seeded, and the demo must be the same clinic
    # whether it is seeded at 09:00 or at 23:30.
    before_today = dt.datetime.combine(
        timezone.localdate(), dt.time.min, tzinfo=timezone.get_current_timezone()
    )
    history = Session.objects.filter(status=SessionStatus.COMPLETED, starts_at__lt=before_today)
    completed = (
        Patient.objects.filter(location__in=locations.values(), sessions__in=history)
        .order_by("location__code", "pk")
        .distinct()
    )
    # Patients this seeder has done have a screening (nothing else writes one in the demo).
    done = set(Screening.objects.values_list("patient_id", flat=True))
    # Take patients round-robin over treatment types, so the histories cover every route.
    by_type: dict[str, list[Patient]] = {}
    latest = dict(
        history.filter(patient__in=completed)
        .order_by("patient_id", "starts_at")
        .values_list("patient_id", "treatment_type")
    )
    for p in completed:
        if p.pk not in done:
            by_type.setdefault(latest.get(p.pk, ""), []).append(p)
    queues = [by_type[k] for k in sorted(by_type)]
    chosen: list[Patient] = []
    while any(queues) and len(chosen) < max(0, MAX_PATIENTS - len(done)):
        for queue in queues:
            if queue and len(chosen) < MAX_PATIENTS - len(done):
                chosen.append(queue.pop(0))
    charted = 0
    # ``i`` picks each patient's story (marketing consent, a withdrawal, a contraindication
    # overridden, an adverse event, an addendum); it counts only patients who can be charted
    # (a lot to draw at their location), so every story is told.
    i = len(done)
    for patient in chosen:
        sessions = list(
            history.filter(patient=patient).select_related("practitioner", "location").order_by("starts_at")
        )
        if not any(_line(s, s.treatment_type, 0) for s in sessions[-MAX_RECORDS_PER_PATIENT:]):
            continue
        charted += _patient_history(patient, sessions, i, users)
        i += 1
    if charted:
        ledger_rebalance(Lot.objects.filter(storage_unit__location__in=locations.values()))
    standard = _ready_standard_session(locations)
    stdout.write(
        f"  treatments: {ConsentTemplate.objects.count()} consent template versions, "
        f"{PatientConsent.objects.count()} signed consents, {TreatmentRecord.objects.count()} treatment "
        f"records ({charted} new)"
        + (f"; session {standard.pk} ({standard.patient}) is ready to chart" if standard else "")
    )
