"""Charting a session (record with product lines), the record page, sign-off and addenda,
and the patient timeline. Practitioners chart; managers read."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit import AuditAction, audit_record
from clinic.forms import parse_id
from clinic.scoping import get_for_user_or_404
from products.models import Lot, Product
from products.scanning import lot_for_scan
from treatments import services
from treatments.consent import treatment_consent_for
from treatments.models import (
    Addendum,
    AdverseEvent,
    Patient,
    ProductLine,
    Screening,
    Session,
    TreatmentRecord,
)
from treatments.record_forms import (
    MAX_LINES,
    AddendumForm,
    ChartChoices,
    LineFormSet,
    RecordForm,
    first_line_initial,
    known_lots,
    known_vials,
    open_vials,
    protocol_for,
    scanned_take,
)
from treatments.timeline import patient_timeline_page
from treatments.views.common import error_messages, flash_errors

CLINICAL = "treatments.view_clinical_record"
CHARTING = [CLINICAL, "treatments.add_treatmentrecord"]


def _record_initial(record: TreatmentRecord | None) -> dict:
    if record is None:
        return {"anaesthesia": "none"}
    return {
        "combined_procedure": record.combined_procedure,
        "combined_settings": record.combined_settings,
        "anaesthesia": record.anaesthesia,
        "post_care": record.post_care,
        "notes": record.notes,
    }


def _chart_session(request: HttpRequest, pk: int) -> Session:
    return get_for_user_or_404(
        Session.objects.select_related("patient", "location", "practitioner", "plan__template"),
        request.user,
        pk=pk,
    )


def _chart_forms(request: HttpRequest, session: Session, record: TreatmentRecord | None, data):
    """The record form and its product lines, offered what is usable at the session's place now."""
    choices = ChartChoices.at(request.user, session.location)
    protocol = protocol_for(session)
    defaults = protocol.chart_defaults if protocol is not None else {}
    kwargs: dict = {
        "choices": choices,
        "user": request.user,
        "location": session.location,
        "defaults": defaults,
    }
    if data is not None:
        # Accept on saving any lot or vial of the place, so the service can say why one offered
        # when the page opened cannot be used any more (the page itself offers only usable ones).
        kwargs |= {
            "known_lots": known_lots(request.user, session.location),
            "known_vials": known_vials(request.user, session.location),
        }
    initial = [first_line_initial(choices, defaults)] if record is None else [{}]
    form = RecordForm(data, initial=_record_initial(record))
    lines = LineFormSet(data, prefix="line", initial=initial, form_kwargs=kwargs)
    return choices, form, lines


def _with_one_more_line(data):
    data = data.copy()
    try:
        total = int(data.get("line-TOTAL_FORMS", "1"))
    except ValueError:
        total = 1
    data["line-TOTAL_FORMS"] = str(max(1, min(total + 1, MAX_LINES)))
    return data


def _checked_inputs(form: RecordForm, lines) -> dict:
    """What both the live check and the save are given (the save adds the free text)."""
    d = form.cleaned_data
    return {
        "lines": [line.to_input() for line in lines.non_blank()],
        "screening_confirmed": d["screening_confirmed"],
        "consent_checked": d["consent_checked"],
        "combined_procedure": d["combined_procedure"],
        "anaesthesia": d["anaesthesia"],
        "adverse_events": form.adverse_events(),
    }


def _check(request: HttpRequest, session: Session, form: RecordForm, lines) -> services.RecordCheck | None:
    """The service's check of what is filled in so far (None while the form itself is invalid)."""
    if not (form.is_valid() and lines.is_valid()):
        return None
    try:
        return services.treatment_record_check(
            actor=request.user, session=session, **_checked_inputs(form, lines)
        )
    except PermissionDenied as exc:
        form.add_error(None, str(exc))
        return None


@permission_required(CHARTING, raise_exception=True)
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Chart the session: checks, procedure and product lines; saving draws the stock.

    Three buttons post the form: Save; "Add a product line" (without JavaScript); and the
    form's first, default button, Check, which is what Enter (a scanner's Enter among them)
    presses: it shows the checks and saves nothing.
    """
    session = _chart_session(request, pk)
    record = TreatmentRecord.objects.filter(session=session).first()
    if record is not None and record.is_signed:
        messages.info(request, "This record is signed; corrections are addenda.")
        return redirect("treatments:record_detail", pk=record.pk)
    if record is not None and request.method == "GET":
        # Opening a draft shows its clinical content: a read like the record page.
        audit_record(
            actor=request.user,
            action=AuditAction.TREATMENT_RECORD_VIEW,
            obj=record,
            location=session.location,
        )
    data = request.POST if request.method == "POST" else None
    action = (data or {}).get("action", "save")
    if data is not None and action == "add_line":
        data = _with_one_more_line(data)
    choices, form, lines = _chart_forms(request, session, record, data)
    check = None
    if data is not None and action == "check":
        check = _check(request, session, form, lines)
    elif data is not None and action == "save" and form.is_valid() and lines.is_valid():
        d = form.cleaned_data
        try:
            result = services.treatment_record_save(
                actor=request.user,
                session=session,
                **_checked_inputs(form, lines),
                combined_settings=d["combined_settings"],
                post_care=d["post_care"],
                notes=d["notes"],
            )
        except ValidationError as exc:
            for message in error_messages(exc):
                form.add_error(None, message)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Treatment record saved; the stock used is taken from the lots.")
            for warning in result.warnings:
                messages.warning(request, warning)
            return redirect("treatments:record_detail", pk=result.record.pk)
    existing = list(
        ProductLine.objects.filter(record=record).select_related("lot__product") if record else []
    )
    return render(
        request,
        "treatments/record_form.html",
        {
            "session": session,
            "record": record,
            "form": form,
            "lines": lines,
            "choices": choices,
            "offers": choices.offers,
            "not_offered": choices.not_offered,
            "check": check,
            "save_failed": data is not None and action == "save",
            "first_number": len(existing) + 1,
            "max_lines": MAX_LINES,
            "consent": treatment_consent_for(session.patient, session.treatment_type, session=session),
            "visit_screening": Screening.objects.filter(session=session).first(),
            "existing_lines": existing,
        },
    )


def _errors(form) -> dict[str, list[str]]:
    return {name: [str(m) for m in errors] for name, errors in form.errors.items()}


@permission_required(CHARTING, raise_exception=True)
@require_POST
def record_check(request: HttpRequest, pk: int) -> JsonResponse:
    """The record form's live check: what saving it now would refuse or warn about, per line,
    from the service that guards the save. Saves nothing."""
    session = _chart_session(request, pk)
    record = TreatmentRecord.objects.filter(session=session).first()
    _choices, form, lines = _chart_forms(request, session, record, request.POST)
    check = _check(request, session, form, lines)
    general = [str(m) for m in form.non_field_errors()] + [str(m) for m in lines.non_form_errors()]
    line_results: list[dict] = []
    checked = iter(check.lines if check is not None else [])
    for line in lines.forms if lines.is_bound and not lines.non_form_errors() else []:
        entry: dict = {"errors": _errors(line), "refusals": [], "warnings": [], "blank": line.is_blank}
        if check is not None and not line.is_blank:
            result = next(checked)
            entry["refusals"] = result.plain(result.refusals)
            entry["warnings"] = result.plain(result.warnings)
        line_results.append(entry)
    if check is not None:
        general += check.general
    ok = check is not None and check.ok
    return JsonResponse(
        {"ok": ok, "general": general, "errors": _errors(form), "lines": line_results},
        json_dumps_params={"ensure_ascii": False},
    )


@permission_required(CHARTING, raise_exception=True)
@require_GET
def record_scan(request: HttpRequest, pk: int) -> JsonResponse:
    """What a scanned box means for this session's record: exactly one usable lot, or why not."""
    session = _chart_session(request, pk)
    product_id = parse_id(request.GET.get("product"))
    product = Product.objects.filter(pk=product_id).first() if product_id else None
    result = lot_for_scan(
        request.GET.get("code", "")[:200],
        lots=Lot.objects.for_user(request.user),
        location=session.location,
        product=product,
    )
    payload: dict = {"ok": result.ok, "message": result.message, "reason": result.reason}
    if result.ok and result.lot is not None:
        lot = result.lot
        take = scanned_take(
            lot, [v for v in open_vials(request.user, session.location) if v.lot_id == lot.pk]
        )
        payload |= {
            "take": take,
            "product": str(lot.product_id),
            "label": f"{lot.product} lot {lot.lot_number}, expires {lot.expiry_date:%d %b %Y}"
            + (" (its opened vial, before a new one)" if take.startswith("vial:") else ""),
        }
    return JsonResponse(payload, json_dumps_params={"ensure_ascii": False})


def _record_queryset():
    return TreatmentRecord.objects.select_related(
        "session__patient__location",
        "session__location",
        "practitioner",
        "signed_by",
        "consent__template",
        "screening",
    ).prefetch_related(
        Prefetch(
            "lines",
            queryset=ProductLine.objects.select_related("lot__product", "opened_vial").prefetch_related(
                "map_points"
            ),
        ),
        Prefetch("adverse_events", queryset=AdverseEvent.objects.select_related("recorded_by")),
        Prefetch("addenda", queryset=Addendum.objects.select_related("written_by")),
    )


@permission_required([CLINICAL, "treatments.view_treatmentrecord"], raise_exception=True)
@require_GET
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_for_user_or_404(_record_queryset(), request.user, pk=pk)
    audit_record(
        actor=request.user,
        action=AuditAction.TREATMENT_RECORD_VIEW,
        obj=record,
        location=record.session.location,
    )
    return render(
        request,
        "treatments/record_detail.html",
        {"record": record, "session": record.session, "addendum_form": AddendumForm()},
    )


@permission_required([CLINICAL, "treatments.sign_treatmentrecord"], raise_exception=True)
@require_POST
def record_sign(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_for_user_or_404(TreatmentRecord.objects.all(), request.user, pk=pk)
    try:
        services.treatment_record_sign(actor=request.user, record=record)
    except ValidationError as exc:
        flash_errors(request, exc)
    else:
        messages.success(request, "Record signed and locked. Complete the session when the patient leaves.")
    return redirect("treatments:record_detail", pk=pk)


@permission_required([CLINICAL, "treatments.add_addendum"], raise_exception=True)
@require_POST
def record_addendum(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_for_user_or_404(TreatmentRecord.objects.all(), request.user, pk=pk)
    form = AddendumForm(request.POST)
    if not form.is_valid():
        messages.error(request, "An addendum needs its reason and the correction.")
    else:
        try:
            services.treatment_record_addendum(actor=request.user, record=record, **form.cleaned_data)
        except ValidationError as exc:
            flash_errors(request, exc)
        else:
            messages.success(request, "Addendum added; the signed record is unchanged above it.")
    return redirect("treatments:record_detail", pk=pk)


@permission_required([CLINICAL, "treatments.view_treatmentrecord"], raise_exception=True)
@require_GET
def patient_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything clinical about a patient, newest first, a page at a time (fixed query count)."""
    patient = get_for_user_or_404(Patient.objects.select_related("location"), request.user, pk=pk)
    page = patient_timeline_page(patient, request.GET.get("page"))
    audit_record(actor=request.user, action=AuditAction.PATIENT_TIMELINE_VIEW, obj=patient)
    return render(request, "treatments/patient_timeline.html", {"patient": patient, "page": page})
