"""The page a maintenance reminder's link opens: the patient books their next session.

No login (the signed link is the key), rate limited like the respond page, and nothing
clinical is shown: first name, location, practitioner's first name and times. GET lists
the free slots and changes nothing (mail scanners follow links); POST books one through
``plan_patient_book``, which uses the front desk's booking service. Expired, tampered or
out-of-date links get the respond page's refusal (one wording for every patient link)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from treatments import links
from treatments.models import TreatmentPlan
from treatments.services.patient_booking import (
    local_time_label,
    maintenance_offer,
    plan_patient_book,
    upcoming_booking,
)
from treatments.views.respond import open_link, refuse

TEMPLATE = "treatments/plan_book.html"


def _chosen(value: str) -> dt.datetime | None:
    try:
        chosen = dt.datetime.fromisoformat(value[:40])
    except ValueError:
        return None
    return chosen if timezone.is_aware(chosen) else None


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def plan_book(request: HttpRequest, token: str) -> HttpResponse:
    link = open_link(request, page="plan-book", token=token, read=links.booking_from_token)
    if isinstance(link, HttpResponse):
        return link
    plan = (
        TreatmentPlan.objects.select_related("patient__location")
        .filter(pk=link.plan_id, patient_id=link.patient_id)
        .first()
    )
    if plan is None:
        return refuse(request, "invalid")
    booked = upcoming_booking(plan)
    if booked is not None:
        # A used link: the booking it made (or the desk's), nothing to choose any more.
        context = {
            "state": "booked",
            "first_name": plan.patient.first_name,
            "session": booked,
            "booked_time": local_time_label(booked.starts_at),
            "practitioner_first_name": booked.practitioner.first_name,
        }
        return render(request, TEMPLATE, context)
    if plan.status != TreatmentPlan.Status.ACTIVE or plan.next_due_on != link.due_on:
        return refuse(request, "expired")
    error, status = "", 200
    if request.method == "POST":
        chosen = _chosen(request.POST.get("slot", ""))
        try:
            if chosen is None:
                raise ValidationError("Please choose one of the times offered.")
            plan_patient_book(link=link, starts_at=chosen)
        except ValidationError as exc:
            code = getattr(exc, "code", None)
            if code == "used" and upcoming_booking(plan) is not None:
                # Booked between this page's check and the booking's lock: a double tap (or a
                # second tab) whose first submit won, or the desk. Either way the patient's
                # next session is booked; show it, as this link shows it from now on.
                return redirect(request.path, permanent=False)
            if code == "gone":
                return refuse(request, "expired")
            error = " ".join(exc.messages)
            status = 409 if code == "slot_taken" else 400
        else:
            return redirect(request.path, permanent=False)
    offer = maintenance_offer(plan=plan, due_on=link.due_on)
    context = {
        "state": "choose",
        "first_name": plan.patient.first_name,
        "location": offer.location,
        "practitioner_first_name": offer.practitioner.first_name if offer.practitioner else "",
        "offer": offer,
        "days": offer.days,
        "error": error,
    }
    return render(request, TEMPLATE, context, status=status)
