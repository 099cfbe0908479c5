"""Manager pages: protocol templates and practitioners' working hours."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from clinic.scoping import locations_for
from treatments import services
from treatments.calendar import bookable_practitioners
from treatments.forms import ProtocolTemplateForm, WorkingHoursFormSet
from treatments.models import ProtocolTemplate, WorkingHours
from treatments.views.common import error_messages


@permission_required("treatments.view_protocoltemplate", raise_exception=True)
@require_GET
def protocol_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "treatments/protocol_list.html",
        {
            "templates": ProtocolTemplate.objects.order_by("name"),
            "can_edit": request.user.has_perm("treatments.change_protocoltemplate"),
        },
    )


@permission_required("treatments.change_protocoltemplate", raise_exception=True)
@require_http_methods(["GET", "POST"])
def protocol_edit(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(ProtocolTemplate, pk=pk)
    form = ProtocolTemplateForm(request.POST or None, instance=ProtocolTemplate.objects.get(pk=pk))
    if template.per_procedure:
        for name in (
            "induction_sessions",
            "induction_sessions_max",
            "induction_interval_days",
            "maintenance_min_days",
            "maintenance_max_days",
        ):
            form.fields[name].disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.protocol_template_update(actor=request.user, template=template, **form.cleaned_data)
        except ValidationError as exc:
            for message in error_messages(exc):
                form.add_error(None, message)
        else:
            messages.success(
                request, f"{template.name} saved. Running plans keep their schedule; new plans use it."
            )
            return redirect("treatments:protocol_list")
    return render(request, "treatments/protocol_form.html", {"form": form, "template": template})


@permission_required("treatments.change_workinghours", raise_exception=True)
@require_GET
def working_hours_list(request: HttpRequest) -> HttpResponse:
    locations = list(locations_for(request.user))
    rows = []
    hours: dict = defaultdict(list)
    for h in WorkingHours.objects.filter(location__in=locations).order_by("weekday", "start_time"):
        hours[(h.practitioner_id, h.location_id)].append(h)
    practitioners = list(
        bookable_practitioners()
        .filter(staff_profile__locations__in=locations)
        .prefetch_related("staff_profile__locations")
    )
    for loc in locations:
        for p in practitioners:
            if any(pl.pk == loc.pk for pl in p.staff_profile.locations.all()):
                rows.append({"location": loc, "practitioner": p, "hours": hours.get((p.pk, loc.pk), [])})
    return render(request, "treatments/working_hours_list.html", {"rows": rows})


@permission_required("treatments.change_workinghours", raise_exception=True)
@require_http_methods(["GET", "POST"])
def working_hours_edit(request: HttpRequest, location_pk: int, user_pk: int) -> HttpResponse:
    location = get_object_or_404(locations_for(request.user), pk=location_pk)
    practitioner = bookable_practitioners(location).filter(pk=user_pk).first()
    if practitioner is None:
        raise Http404("No such practitioner at this location.")
    existing = WorkingHours.objects.filter(practitioner=practitioner, location=location)
    initial = [{"weekday": h.weekday, "start_time": h.start_time, "end_time": h.end_time} for h in existing]
    formset = WorkingHoursFormSet(request.POST or None, initial=initial, prefix="hours")
    if request.method == "POST" and formset.is_valid():
        intervals = [
            (f.cleaned_data["weekday"], f.cleaned_data["start_time"], f.cleaned_data["end_time"])
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        try:
            services.working_hours_replace(
                actor=request.user, practitioner=practitioner, location=location, intervals=intervals
            )
        except ValidationError as exc:
            for message in error_messages(exc):
                messages.error(request, message)
        else:
            messages.success(request, f"Working hours of {practitioner.get_full_name()} at {location} saved.")
            return redirect("treatments:working_hours_list")
    return render(
        request,
        "treatments/working_hours_form.html",
        {"formset": formset, "practitioner": practitioner, "location": location},
    )
