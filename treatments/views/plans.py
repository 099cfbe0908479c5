"""Treatment plans and the due worklist with its contact log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.scoping import get_for_user_or_404
from clinic.tables import paginate, sort_queryset
from treatments import services
from treatments.forms import ContactAttemptForm, PlanForm
from treatments.models import ContactAttempt, Patient, TreatmentPlan
from treatments.views.common import add_errors, flash_errors, safe_next


@permission_required("treatments.add_treatmentplan", raise_exception=True)
@require_http_methods(["GET", "POST"])
def plan_create(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_for_user_or_404(Patient.objects.all(), request.user, pk=pk)
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            plan = services.plan_create(
                actor=request.user,
                patient=patient,
                template=d["template"],
                induction_sessions=d["induction_sessions"],
                started_on=d["started_on"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"{plan.template} plan started for {patient}.")
            return redirect("treatments:plan_detail", pk=plan.pk)
    return render(request, "treatments/plan_form.html", {"form": form, "patient": patient})


@permission_required("treatments.view_treatmentplan", raise_exception=True)
@require_GET
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_for_user_or_404(
        TreatmentPlan.objects.select_related("patient__location", "template"), request.user, pk=pk
    )
    sessions = plan.sessions.select_related("practitioner", "room", "location").order_by("-starts_at")[:50]
    attempts = plan.contact_attempts.select_related("made_by")[:20]
    return render(
        request,
        "treatments/plan_detail.html",
        {
            "plan": plan,
            "sessions": sessions,
            "attempts": attempts,
            "today": timezone.localdate(),
            "contact_form": ContactAttemptForm(),
        },
    )


@permission_required("treatments.change_treatmentplan", raise_exception=True)
@require_POST
def plan_stop(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_for_user_or_404(TreatmentPlan.objects.all(), request.user, pk=pk)
    try:
        services.plan_stop(actor=request.user, plan=plan, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        flash_errors(request, exc)
    else:
        messages.success(request, "The plan is stopped; it no longer appears on the due list.")
    return redirect("treatments:plan_detail", pk=pk)


@permission_required("treatments.view_contactattempt", raise_exception=True)
@require_GET
def due_list(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    last = ContactAttempt.objects.filter(plan=OuterRef("pk")).order_by("-made_at", "-pk")
    qs = (
        TreatmentPlan.objects.for_user(request.user)
        .due(today)
        .select_related("patient__location", "template")
        .annotate(
            last_outcome=Subquery(last.values("outcome")[:1]),
            last_contact_at=Subquery(last.values("made_at")[:1]),
            last_contact_by=Subquery(last.values("made_by__username")[:1]),
        )
    )
    qs, sort = sort_queryset(
        request,
        qs,
        {
            "due": "next_due_on",
            "overdue": "due_by",
            "name": "patient__last_name_key",
            "contact": "last_contact_at",
        },
        "due",
    )
    page = paginate(request, qs)
    outcomes = dict(ContactAttempt.Outcome.choices)
    for plan in page:
        plan.last_outcome_label = outcomes.get(plan.last_outcome, "")
        plan.state = plan.due_state(today)
    return render(
        request,
        "treatments/due_list.html",
        {
            "page": page,
            "sort": sort,
            "today": today,
            "outcomes": ContactAttempt.Outcome.choices,
            "can_book": request.user.has_perm("treatments.add_session"),
            "can_log": request.user.has_perm("treatments.add_contactattempt"),
        },
    )


@permission_required("treatments.add_contactattempt", raise_exception=True)
@require_POST
def contact_attempt_record(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_for_user_or_404(TreatmentPlan.objects.select_related("patient__location"), request.user, pk=pk)
    form = ContactAttemptForm(request.POST)
    if form.is_valid():
        try:
            services.contact_attempt_record(actor=request.user, plan=plan, **form.cleaned_data)
        except ValidationError as exc:
            flash_errors(request, exc)
        else:
            messages.success(request, f"Contact with {plan.patient} logged.")
    else:
        messages.error(request, "Choose what came of the call or message.")
    return redirect(safe_next(request, reverse("treatments:due_list")))
