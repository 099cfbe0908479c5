"""Treatment records: save (with the stock draws, all or nothing), sign, and addenda.

``treatment_record_save`` is the one way a treatment is charted. Its gates live here, not
only in the form: a valid treatment consent, screening confirmed for this visit with no
un-overridden contraindication, each lot cleared (``products.compliance``), the route on
the product's label, the periorbital rule, and amounts that are possible. Usage goes
through the products ledger (``stock_use``, ``vial_open``, ``vial_draw``) inside the same
transaction, so a lot that became unusable since the form was opened (expired, quarantined,
used up by a colleague) raises and nothing at all is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from products import compliance
from products.models import Lot, OpenedVial
from products.models.stock import UNUSABLE as UNUSABLE_STATUSES
from products.models.stock import LotStatus
from products.services.stock import lock_lot, stock_use, vial_draw, vial_open
from treatments.consent import has_consent, treatment_consent_for
from treatments.injection_map import MAX_POINTS
from treatments.map_regions import region_at
from treatments.models import (
    CHANNEL_OPENING,
    Addendum,
    AdverseEvent,
    Anaesthesia,
    Area,
    CombinedProcedure,
    InjectionPoint,
    LineSource,
    PatientConsent,
    ProductLine,
    Route,
    Scope,
    Screening,
    Session,
    SessionStatus,
    Severity,
    TreatmentRecord,
    TreatmentType,
)
from treatments.services.common import require_location

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CHARTABLE = (SessionStatus.ARRIVED, SessionStatus.IN_TREATMENT, SessionStatus.COMPLETED)
RECORD_FIELDS = ("combined_procedure", "combined_settings", "anaesthesia", "post_care", "notes")

# Usual ranges (DOMAIN.md "Treatments"): outside them is a warning, never a refusal.
USUAL: dict[str, dict[str, tuple[Any, Any]]] = {
    Route.INTRADERMAL: {"per_point": (Decimal("0.01"), Decimal("0.02")), "gauge": (30, 32),
                        "spacing": (Decimal("1"), Decimal("1.5"))},
    Route.SCALP: {"per_point": (Decimal("0.02"), Decimal("0.05")), "gauge": (30, 31)},
}  # fmt: skip
# Beyond these a value is not a clinical choice but a typing mistake.
GAUGE_LIMITS = (14, 34)
DEPTH_LIMIT_MM = Decimal("10")
# Nappage at 1 cm over face, neck and décolletage is some hundreds of points; more is a typo.
POINTS_LIMIT = 2000


@dataclass
class LineInput:
    """One product line as the practitioner entered it."""

    lot: Lot
    source: str = LineSource.SEALED
    route: str = Route.TOPICAL
    areas: list[str] = field(default_factory=list)
    vials: int | None = None
    volume_ml: Decimal | None = None
    opened_vial: OpenedVial | None = None
    needle_gauge: int | None = None
    depth_mm: Decimal | None = None
    volume_per_point_ml: Decimal | None = None
    points: int | None = None
    spacing_cm: Decimal | None = None
    # Where the injections went (``treatments.injection_map.MapPoint``: view, x, y, volume_ml,
    # depth_mm); when given, the line's number of points and volume per point follow them.
    map_points: list[Any] = field(default_factory=list)


@dataclass
class AdverseEventInput:
    kind: str
    severity: str
    action_taken: str


@dataclass
class SaveResult:
    record: TreatmentRecord
    warnings: list[str]
    created: bool


@dataclass
class LineCheck:
    """One line's refusals and warnings, each a sentence starting with the line's ``tag``."""

    tag: str
    refusals: list[str]
    warnings: list[str]

    def plain(self, messages: list[str]) -> list[str]:
        """The messages without the line's tag, for showing inside the line itself."""
        lead = f"{self.tag}: "
        return [m[len(lead) :] if m.startswith(lead) else m for m in messages]


@dataclass
class RecordCheck:
    """What saving would refuse and warn about, before anything is saved: the record's own
    problems (session, consent, screening, procedure) and each line's, in the lines' order."""

    general: list[str] = field(default_factory=list)
    lines: list[LineCheck] = field(default_factory=list)

    @property
    def refusals(self) -> list[str]:
        return self.general + [m for line in self.lines for m in line.refusals]

    @property
    def warnings(self) -> list[str]:
        return [m for line in self.lines for m in line.warnings]

    @property
    def ok(self) -> bool:
        return not self.refusals


def _dec(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"“{value}” is not a number.") from None


def _check_gates(*, session: Session, screening_confirmed: bool, consent_checked: bool):
    """Consent and screening: (consent, screening, problems), each problem a sentence saying
    what is missing; consent or screening is None when there is none to record."""
    patient = session.patient
    problems = []
    consent = None
    if not consent_checked:
        problems.append("Tick that you checked the patient's consent.")
    if not has_consent(patient, Scope.TREATMENT):
        problems.append(
            f"{patient} has no valid consent to treatment (none signed, or it was withdrawn): "
            "the patient must sign a consent before anything is charted."
        )
    else:
        consent = treatment_consent_for(patient, session.treatment_type, session=session)
        if consent is None:
            problems.append(
                f"{patient}'s consent does not cover this treatment type "
                f"({TreatmentType(session.treatment_type).label}) at this visit (one signed from "
                "an intake link counts only for the appointment it was sent for, at the current "
                "version): the patient must sign that consent first."
            )
    screening = Screening.objects.filter(session=session).order_by("-answered_at", "-pk").first()
    if not screening_confirmed:
        problems.append("Tick that the screening was confirmed with the patient at this visit.")
    if screening is None:
        problems.append(
            "Screening has not been confirmed for this visit: confirm or update the answers first."
        )
    elif screening.blocks_treatment:
        problems.append(
            "Screening contraindicates treatment ("
            + "; ".join(screening.contraindications)
            + "): a practitioner must override it with a written reason before charting."
        )
    return consent, screening, problems


def _stock_problems(line: LineInput) -> list[str]:
    """Why the stock a line takes cannot be used now (the ledger refuses the same under its
    row lock; saying it here lets the live check say it before Save)."""
    lot = line.lot
    status = lot.status
    if line.source == LineSource.OPENED:
        vial = line.opened_vial
        problems = []
        if status in (LotStatus.QUARANTINED, LotStatus.RECALLED, LotStatus.EXPIRED):
            problems.append(
                f"lot {lot.lot_number} is {LotStatus(status).label.lower()}; its opened vials cannot be used."
            )
        if vial is not None and vial.discarded_at is not None:
            problems.append("the opened vial chosen has been discarded.")
        elif vial is not None and vial.is_beyond_use:
            use_by = timezone.localtime(vial.beyond_use_at)
            problems.append(f"the opened vial was to be used by {use_by:%H:%M}; discard it.")
        return problems
    if status in UNUSABLE_STATUSES:
        return [f"lot {lot.lot_number} is {LotStatus(status).label.lower()}; it cannot be used."]
    return []


def _line_tag(n: int, line: LineInput) -> str:
    return f"Line {n} ({line.lot.product} lot {line.lot.lot_number})"


def _check_line(n: int, line: LineInput, session: Session, procedure: str) -> tuple[list[str], list[str]]:
    """(refusals, warnings) for one line, before any stock moves."""
    refuse: list[str] = []
    warn: list[str] = []
    lot = line.lot
    product = lot.product
    tag = _line_tag(n, line)
    if lot.storage_unit.location_id != session.location_id:
        refuse.append(f"{tag}: this lot is not stocked at {session.location}.")
    refuse += [f"{tag}: {p}" for p in compliance.lot_clearance_problems(lot)]
    refuse += [f"{tag}: {p}" for p in _stock_problems(line)]
    if line.route not in Route.values:
        refuse.append(f"{tag}: choose the route.")
    else:
        refuse += [f"{tag}: {p}" for p in compliance.product_route_problems(product, line.route)]
    if not line.areas:
        refuse.append(f"{tag}: choose at least one area.")
    unknown = [a for a in line.areas if a not in Area.values]
    if unknown:
        refuse.append(f"{tag}: unknown area {', '.join(unknown)}.")
    if Area.PERIORBITAL in line.areas and not product.periorbital_suitable:
        refuse.append(
            f"{tag}: {product} is not made for the periorbital zone; choose another area or product."
        )
    # Amounts: impossible values are refused.
    if line.source == LineSource.SEALED:
        if line.volume_ml is not None and line.volume_ml <= 0:
            refuse.append(f"{tag}: the volume used must be above zero (or left empty for whole vials).")
        if not line.vials or line.vials <= 0:
            refuse.append(f"{tag}: the number of sealed vials must be at least 1.")
        elif line.volume_ml is not None and line.volume_ml > line.vials * product.opened_volume_ml:
            refuse.append(
                f"{tag}: {line.volume_ml} mL is more than {line.vials} vial(s) hold "
                f"({line.vials * product.opened_volume_ml} mL)."
            )
        elif line.vials > lot.quantity_on_hand:
            refuse.append(f"{tag}: the lot has only {lot.quantity_on_hand} vial(s); {line.vials} asked for.")
    elif line.source in (LineSource.OPENED, LineSource.OPEN_NEW):
        if line.volume_ml is None or line.volume_ml <= 0:
            refuse.append(f"{tag}: the volume drawn must be above zero.")
        if line.source == LineSource.OPENED:
            vial = line.opened_vial
            if vial is None:
                refuse.append(f"{tag}: choose the opened vial to draw from.")
            elif vial.lot_id != lot.pk:
                refuse.append(f"{tag}: the opened vial chosen is from another lot.")
            elif line.volume_ml is not None and line.volume_ml > vial.volume_left_ml:
                refuse.append(f"{tag}: only {vial.volume_left_ml} mL is left in the opened vial.")
        elif line.volume_ml is not None and line.volume_ml > product.opened_volume_ml:
            refuse.append(
                f"{tag}: {line.volume_ml} mL is more than one vial holds ({product.opened_volume_ml} mL)."
            )
    else:
        refuse.append(f"{tag}: choose sealed vials or an opened vial.")
    for name, value, label in (
        ("volume_per_point_ml", line.volume_per_point_ml, "volume per point"),
        ("depth_mm", line.depth_mm, "depth"),
        ("spacing_cm", line.spacing_cm, "spacing"),
    ):
        if value is not None and value <= 0:
            refuse.append(f"{tag}: the {label} must be above zero.")
        del name
    if line.points is not None and line.points <= 0:
        refuse.append(f"{tag}: the number of points must be at least 1.")
    elif line.points is not None and line.points > POINTS_LIMIT:
        refuse.append(f"{tag}: {line.points} points is not a session's count (at most {POINTS_LIMIT}).")
    if line.needle_gauge is not None and not GAUGE_LIMITS[0] <= line.needle_gauge <= GAUGE_LIMITS[1]:
        lo, hi = GAUGE_LIMITS
        refuse.append(f"{tag}: {line.needle_gauge}G is not a needle gauge used here ({lo}–{hi}G).")
    if line.depth_mm is not None and line.depth_mm > DEPTH_LIMIT_MM:
        refuse.append(f"{tag}: a depth of {line.depth_mm} mm is not possible in skin.")
    total = line.volume_ml if line.volume_ml is not None else None
    if line.source == LineSource.SEALED and total is None and line.vials:
        total = line.vials * product.opened_volume_ml
    vpp = line.volume_per_point_ml
    if vpp is not None and vpp > 0 and total is not None and vpp > total:
        refuse.append(f"{tag}: {vpp} mL per point is more than the {total} mL used in all.")
    # Usual ranges: a visible warning, accepted.
    usual = USUAL.get(line.route, {})
    if vpp is not None and vpp > 0 and "per_point" in usual:
        lo, hi = usual["per_point"]
        if not lo <= vpp <= hi:
            warn.append(f"{tag}: {vpp} mL per point is outside the usual {lo}–{hi} mL for this route.")
    if line.needle_gauge and "gauge" in usual:
        lo, hi = usual["gauge"]
        if not lo <= line.needle_gauge <= hi:
            warn.append(f"{tag}: {line.needle_gauge}G is outside the usual {lo}–{hi}G for this route.")
    if line.spacing_cm and line.spacing_cm > 0 and "spacing" in usual:
        lo, hi = usual["spacing"]
        if not lo <= line.spacing_cm <= hi:
            warn.append(f"{tag}: {line.spacing_cm} cm spacing is outside the usual {lo}–{hi} cm.")
    if line.map_points:
        refuse_map, warn_map = _check_map(tag, line, total)
        refuse += refuse_map
        warn += warn_map
    elif vpp and line.points and total is not None and vpp * line.points > total * Decimal("1.1"):
        warn.append(f"{tag}: {line.points} points × {vpp} mL is more than the {total} mL recorded.")
    if line.route == Route.TOPICAL and procedure not in CHANNEL_OPENING:
        warn.append(
            f"{tag}: exosomes do not penetrate intact skin; topical use is usual right after "
            "microneedling, fractional laser or RF microneedling."
        )
    return refuse, warn


def _map_total(line: LineInput) -> Decimal:
    return sum((Decimal(p.volume_ml) for p in line.map_points), Decimal(0))


def _check_map(tag: str, line: LineInput, total: Decimal | None) -> tuple[list[str], list[str]]:
    """The injection map of a line: refused where it cannot be true, warned where it is unusual."""
    refuse: list[str] = []
    warn: list[str] = []
    points = line.map_points
    if line.route == Route.TOPICAL:
        refuse.append(f"{tag}: a topical application has no injection points; mark the areas instead.")
    if len(points) > MAX_POINTS:
        refuse.append(f"{tag}: {len(points)} points on the map; at most {MAX_POINTS} are kept.")
    if any(p.depth_mm is not None and p.depth_mm > DEPTH_LIMIT_MM for p in points):
        refuse.append(f"{tag}: a point deeper than {DEPTH_LIMIT_MM} mm is not possible in skin.")
    usual = USUAL.get(line.route, {}).get("per_point")
    if usual:
        lo, hi = usual
        outside = [p for p in points if not lo <= p.volume_ml <= hi]
        if outside:
            warn.append(
                f"{tag}: {len(outside)} point(s) on the map are outside the usual {lo}–{hi} mL per point."
            )
    mapped = _map_total(line)
    if total is not None and total > 0 and abs(mapped - total) > total * Decimal("0.1"):
        warn.append(f"{tag}: the map totals {mapped} mL; {total} mL is recorded as drawn.")
    return refuse, warn


def _follow_map(line: LineInput) -> None:
    """A line with a map: its number of points is the map's, its volume per point the points'
    common volume (none when they differ; each point keeps its own), and its areas include
    every area a point fell in."""
    if not line.map_points:
        return
    line.points = len(line.map_points)
    volumes = {Decimal(p.volume_ml) for p in line.map_points}
    line.volume_per_point_ml = volumes.pop() if len(volumes) == 1 else None
    # Where the points fell is where the product went: their areas are the line's too, so the
    # periorbital rule (and the record's Areas) cannot disagree with the map.
    mapped = [region.area for p in line.map_points if (region := region_at(p.view, p.x, p.y)) and region.area]
    line.areas = list(dict.fromkeys([*line.areas, *mapped]))


def _assess(
    *,
    session: Session,
    record: TreatmentRecord | None,
    lines: list[LineInput],
    screening_confirmed: bool,
    consent_checked: bool,
    combined_procedure: str,
    anaesthesia: str,
    adverse_events: list[AdverseEventInput],
) -> tuple[PatientConsent | None, Screening | None, RecordCheck]:
    """Every check the save makes, in one place: the live check at the chair and the save
    both call it, so what the form says as the practitioner goes is what the save will do."""
    check = RecordCheck()
    if session.status not in CHARTABLE:
        check.general.append(
            f"This session is {session.get_status_display().lower()}; only a session the patient "
            "attended can be charted: check the patient in first."
        )
    if record is not None and record.is_signed:
        check.general.append("This record is signed and locked; add an addendum to correct it.")
    if record is None and not lines:
        check.general.append("Add at least one product line: the lot, the amount and the route.")
    consent, screening, gates = _check_gates(
        session=session, screening_confirmed=screening_confirmed, consent_checked=consent_checked
    )
    check.general += gates
    if combined_procedure not in CombinedProcedure.values:
        check.general.append("Choose the combined procedure from the list.")
    if anaesthesia not in Anaesthesia.values:
        check.general.append("Choose the anaesthesia from the list.")
    for e in adverse_events:
        if not (e.kind.strip() and e.action_taken.strip()) or e.severity not in Severity.values:
            check.general.append("An adverse event needs its type, severity and the action taken.")
            break
    start = record.lines.count() if record is not None else 0
    for i, line in enumerate(lines, start=start + 1):
        # Fresh rows: the form may have been open a while (the ledger re-checks under lock).
        line.lot = Lot.objects.select_related("product", "storage_unit").get(pk=line.lot.pk)
        if line.opened_vial is not None:
            line.opened_vial = OpenedVial.objects.get(pk=line.opened_vial.pk)
        line.volume_ml = _dec(line.volume_ml)
        _follow_map(line)
        refuse, warn = _check_line(i, line, session, combined_procedure)
        check.lines.append(LineCheck(_line_tag(i, line), refuse, warn))
    _check_totals(lines, check)
    return consent, screening, check


def _check_totals(lines: list[LineInput], check: RecordCheck) -> None:
    """What no line shows alone: lines that together take more vials than a lot holds, or
    more than an opened vial has left (said once, on the last of those lines); and a new vial
    opened while one of the same lot is still in use (a warning)."""
    vials: dict[int, list[tuple[int, LineCheck]]] = {}
    draws: dict[int, list[tuple[Decimal, LineCheck]]] = {}
    for line, line_check in zip(lines, check.lines, strict=True):
        if line.source == LineSource.SEALED and line.vials and line.vials > 0:
            vials.setdefault(line.lot.pk, []).append((line.vials, line_check))
        elif line.source == LineSource.OPEN_NEW:
            vials.setdefault(line.lot.pk, []).append((1, line_check))
            in_use = _vial_in_use(line.lot)
            if in_use is not None:
                use_by = timezone.localtime(in_use.beyond_use_at)
                line_check.warnings.append(
                    f"{line_check.tag}: an opened vial of this lot has {in_use.volume_left_ml} mL left, "
                    f"usable until {use_by:%H:%M}; draw from it before opening another."
                )
        elif line.source == LineSource.OPENED and line.opened_vial is not None and line.volume_ml:
            draws.setdefault(line.opened_vial.pk, []).append((line.volume_ml, line_check))
    on_hand = {line.lot.pk: line.lot.quantity_on_hand for line in lines}
    for lot_pk, taken in vials.items():
        total = sum(n for n, _ in taken)
        if len(taken) > 1 and total > on_hand[lot_pk]:
            last = taken[-1][1]
            last.refusals.append(
                f"{last.tag}: the lines take {total} vials of this lot together; it has {on_hand[lot_pk]}."
            )
    left = {line.opened_vial.pk: line.opened_vial.volume_left_ml for line in lines if line.opened_vial}
    for vial_pk, drawn in draws.items():
        volume = sum((v for v, _ in drawn), Decimal(0))
        if len(drawn) > 1 and volume > left[vial_pk]:
            last = drawn[-1][1]
            last.refusals.append(
                f"{last.tag}: the lines draw {volume} mL from this opened vial together; "
                f"only {left[vial_pk]} mL is left."
            )


def _vial_in_use(lot: Lot) -> OpenedVial | None:
    """An opened vial of the lot, still inside its use time and not empty."""
    for vial in OpenedVial.objects.in_use().filter(lot=lot):
        if vial.volume_left_ml > 0:
            return vial
    return None


def treatment_record_check(
    *,
    actor: User,
    session: Session,
    lines: list[LineInput],
    screening_confirmed: bool,
    consent_checked: bool,
    combined_procedure: str = CombinedProcedure.NONE,
    anaesthesia: str = Anaesthesia.NONE,
    adverse_events: list[AdverseEventInput] | None = None,
) -> RecordCheck:
    """What ``treatment_record_save`` would refuse and warn about now, without saving or
    moving stock: the checks the form shows as the practitioner goes."""
    if not actor.has_perm("treatments.add_treatmentrecord"):
        raise PermissionDenied("Only a practitioner can chart a treatment.")
    session = Session.objects.select_related("patient", "location").get(pk=session.pk)
    require_location(actor, session.location)
    record = TreatmentRecord.objects.filter(session=session).first()
    return _assess(
        session=session,
        record=record,
        lines=lines,
        screening_confirmed=screening_confirmed,
        consent_checked=consent_checked,
        combined_procedure=combined_procedure,
        anaesthesia=anaesthesia,
        adverse_events=adverse_events or [],
    )[2]


def _draw(n: int, line: LineInput, *, actor: User, reference: str) -> dict:
    """Move the stock for one line through the products ledger; returns the line's ledger links.

    ``_check_line`` has refused a line without its amounts (or its opened vial) by now.
    """
    tag = _line_tag(n, line)
    try:
        if line.source == LineSource.SEALED:
            assert line.vials is not None
            movement = stock_use(lot=line.lot, quantity=line.vials, actor=actor, reference=reference)
            return {"stock_movement": movement}
        assert line.volume_ml is not None
        if line.source == LineSource.OPEN_NEW:
            vial = vial_open(lot=line.lot, actor=actor)
        else:
            assert line.opened_vial is not None
            vial = line.opened_vial
            # An opened vial of a lot quarantined, recalled or expired since is not used either.
            locked = lock_lot(line.lot)
            if locked.status in (LotStatus.QUARANTINED, LotStatus.RECALLED, LotStatus.EXPIRED):
                raise ValidationError(
                    f"Lot {locked.lot_number} is {LotStatus(locked.status).label.lower()}; "
                    "its opened vials cannot be used."
                )
        draw = vial_draw(vial=vial, volume_ml=line.volume_ml, actor=actor, reference=reference)
        return {"opened_vial": vial, "vial_draw": draw}
    except ValidationError as exc:
        raise ValidationError([f"{tag}: {m}" for m in exc.messages]) from None


@transaction.atomic
def treatment_record_save(
    *,
    actor: User,
    session: Session,
    lines: list[LineInput],
    screening_confirmed: bool,
    consent_checked: bool,
    combined_procedure: str = CombinedProcedure.NONE,
    combined_settings: str = "",
    anaesthesia: str = Anaesthesia.NONE,
    post_care: str = "",
    notes: str = "",
    adverse_events: list[AdverseEventInput] | None = None,
) -> SaveResult:
    """Chart a session (or add to its unsigned record): every check, then the ledger, all or nothing."""
    if actor is not None and not actor.has_perm("treatments.add_treatmentrecord"):
        raise PermissionDenied("Only a practitioner can chart a treatment.")
    session = Session.objects.select_for_update().select_related("patient", "location").get(pk=session.pk)
    require_location(actor, session.location)
    record = TreatmentRecord.objects.select_for_update().filter(session=session).first()
    events = adverse_events or []
    consent, screening, check = _assess(
        session=session,
        record=record,
        lines=lines,
        screening_confirmed=screening_confirmed,
        consent_checked=consent_checked,
        combined_procedure=combined_procedure,
        anaesthesia=anaesthesia,
        adverse_events=events,
    )
    if not check.ok:
        raise ValidationError(check.refusals)
    assert consent is not None and screening is not None  # the gates refused otherwise
    warnings = check.warnings

    now = timezone.now()
    created = record is None
    before = None
    if record is None:
        record = TreatmentRecord(session=session, practitioner=actor, created_at=now)
    else:
        before = snapshot(record, RECORD_FIELDS)
    record.consent, record.screening = consent, screening
    record.combined_procedure, record.combined_settings = combined_procedure, combined_settings.strip()[:300]
    record.anaesthesia, record.post_care, record.notes = anaesthesia, post_care.strip(), notes.strip()
    record.updated_at = now
    record.full_clean(exclude=["practitioner"] if actor is None else None)
    record.save()
    reference = f"treatment record {record.pk}"
    saved = []
    start = record.lines.count() if not created else 0
    for (i, line), line_check in zip(enumerate(lines, start=start + 1), check.lines, strict=True):
        links = _draw(i, line, actor=actor, reference=reference)
        sealed = (line.vials or 0) if line.source == LineSource.SEALED else 0
        volume = line.volume_ml
        if volume is None:  # sealed vials given by count only
            volume = sealed * line.lot.product.opened_volume_ml
        row = ProductLine(
            record=record,
            lot=line.lot,
            source=line.source,
            vials=sealed,
            volume_ml=volume,
            route=line.route,
            areas=list(dict.fromkeys(line.areas)),
            needle_gauge=line.needle_gauge,
            depth_mm=line.depth_mm,
            volume_per_point_ml=line.volume_per_point_ml,
            points=line.points,
            spacing_cm=line.spacing_cm,
            warnings=line_check.warnings,
            **links,
        )
        row.full_clean()
        row.save()
        InjectionPoint.objects.bulk_create(
            InjectionPoint(
                line=row,
                number=k,
                view=p.view,
                x=p.x,
                y=p.y,
                volume_ml=p.volume_ml,
                depth_mm=p.depth_mm,
            )
            for k, p in enumerate(line.map_points, start=1)
        )
        saved.append(
            {
                "lot": line.lot.pk,
                "source": line.source,
                "vials": row.vials,
                "volume_ml": str(volume),
                "map_points": len(line.map_points),
            }
        )
    for e in events:
        AdverseEvent.objects.create(
            record=record,
            kind=e.kind.strip()[:120],
            severity=e.severity,
            action_taken=e.action_taken.strip(),
            recorded_at=now,
            recorded_by=actor,
        )
    audit_record(
        actor=actor,
        action=AuditAction.TREATMENT_RECORD_CREATE if created else AuditAction.TREATMENT_RECORD_UPDATE,
        obj=record,
        location=session.location,
        before=before,
        after=snapshot(record, RECORD_FIELDS)
        | {"lines": saved, "adverse_events": len(events), "warnings": warnings, "screening": screening.pk},
    )
    return SaveResult(record=record, warnings=warnings, created=created)


@transaction.atomic
def treatment_record_sign(*, actor: User | None, record: TreatmentRecord) -> TreatmentRecord:
    """The practitioner who charted signs the record; from then on it is locked."""
    record = TreatmentRecord.objects.select_for_update().select_related("session__location").get(pk=record.pk)
    if actor is not None and not actor.has_perm("treatments.sign_treatmentrecord"):
        raise PermissionDenied("Only a practitioner can sign a treatment record.")
    require_location(actor, record.session.location)
    if record.is_signed:
        raise ValidationError("This record is already signed.")
    if actor is not None and actor.pk != record.practitioner_id:
        raise ValidationError("Only the practitioner who charted this treatment can sign it.")
    if not record.lines.exists():
        raise ValidationError("A record without a product line cannot be signed.")
    record.signed_at = timezone.now()
    record.signed_by = actor
    record.save(update_fields=["signed_at", "signed_by"])
    audit_record(
        actor=actor,
        action=AuditAction.TREATMENT_RECORD_SIGN,
        obj=record,
        location=record.session.location,
        after={"signed_at": record.signed_at.isoformat()},
    )
    return record


@transaction.atomic
def treatment_record_addendum(*, actor: User, record: TreatmentRecord, reason: str, text: str) -> Addendum:
    """A correction or late addition to a signed record; the original is left as signed."""
    if actor is not None and not actor.has_perm("treatments.add_addendum"):
        raise PermissionDenied("Only a practitioner can add to a treatment record.")
    record = TreatmentRecord.objects.select_for_update().select_related("session__location").get(pk=record.pk)
    require_location(actor, record.session.location)
    if not record.is_signed:
        raise ValidationError("This record is not signed yet: correct it directly.")
    reason, text = (reason or "").strip(), (text or "").strip()
    if not reason or not text:
        raise ValidationError("An addendum needs its reason and what is corrected or added.")
    addendum = Addendum.objects.create(
        record=record, reason=reason[:300], text=text, written_at=timezone.now(), written_by=actor
    )
    audit_record(
        actor=actor,
        action=AuditAction.TREATMENT_RECORD_ADDENDUM,
        obj=record,
        location=record.session.location,
        after={"addendum": addendum.pk, "reason": reason, "text": text},
    )
    return addendum
