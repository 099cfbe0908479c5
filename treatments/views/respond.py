"""The page a reminder link opens: confirm, cancel or ask for another time, without login.

GET shows the page (mail scanners follow links); only POST changes anything. Nothing clinical
is shown: first name, date and time, location, practitioner's first name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from products.feeds import Rate, rate_wait
from treatments import links
from treatments.forms import NOTE_MAX, PatientAnswerForm
from treatments.models import Session, SessionStatus
from treatments.services.sessions import session_patient_respond

TEMPLATE = "treatments/session_respond.html"
# Every patient link (answer, book, intake): per client address and page, like the
# password-reset limit (clinic/account_views.py).
PATIENT_LINK_LIMIT = Rate(30, 3600)
_STATUS = {"limited": 429, "expired": 410, "invalid": 400}
T = TypeVar("T")


def refuse(request: HttpRequest, state: str) -> HttpResponse:
    """The one page of a patient link that cannot be used: limited (429), expired (410) or
    not valid (400), without a word about whose link it was."""
    return render(request, TEMPLATE, {"state": state}, status=_STATUS[state])


def open_link(request: HttpRequest, *, page: str, token: str, read: Callable[[str], T]) -> T | HttpResponse:
    """Rate-limit the caller on ``page``, then read the token: what it signs, or the refusal."""
    client = request.META.get("REMOTE_ADDR", "")
    wait = rate_wait(f"{page}:client:{client}", PATIENT_LINK_LIMIT)
    if wait is not None:
        response = refuse(request, "limited")
        response["Retry-After"] = str(wait)  # seconds until this window frees
        return response
    try:
        return read(token)
    except links.LinkExpired:
        return refuse(request, "expired")
    except links.LinkInvalid:
        return refuse(request, "invalid")


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def session_respond(request: HttpRequest, token: str) -> HttpResponse:
    session_id = open_link(request, page="session-respond", token=token, read=links.session_id_from_token)
    if isinstance(session_id, HttpResponse):
        return session_id
    session = (
        Session.objects.select_related("patient", "location", "practitioner").filter(pk=session_id).first()
    )
    if session is None:
        return refuse(request, "invalid")
    if links.link_expired_for(session.starts_at):
        return refuse(request, "expired")
    error = ""
    confirm_cancel = False
    note = ""
    if request.method == "POST":
        form = PatientAnswerForm(request.POST)
        if not form.is_valid():
            error = " ".join(message for messages in form.errors.values() for message in messages)
            note = request.POST.get("note", "").replace("\x00", "")[: NOTE_MAX * 2]
        elif (
            form.cleaned_data["answer"] == "cancelled"
            and not form.cleaned_data["confirm"]
            and session.status == SessionStatus.BOOKED
            and session.patient_response != "cancelled"
            and not links.within_cancellation_window(session.starts_at)
        ):
            confirm_cancel = True  # the first press only asks; "Yes, cancel it" sends confirm
        else:
            try:
                session = session_patient_respond(
                    session=session, answer=form.cleaned_data["answer"], note=form.cleaned_data["note"]
                )
            except ValidationError as exc:
                error = " ".join(exc.messages)
    is_booked = session.status == SessionStatus.BOOKED
    context = {
        "state": "page",
        "first_name": session.patient.first_name,
        "starts_at": session.starts_at,
        "location": session.location,
        "practitioner_first_name": session.practitioner.first_name,
        # An answer shows while it still stands: on a booked session, or the patient's own cancel.
        "answer": session.patient_response if is_booked or session.patient_response == "cancelled" else "",
        "answer_label": session.get_patient_response_display(),
        "status": session.status,
        "is_booked": is_booked,
        "in_window": links.within_cancellation_window(session.starts_at),
        "confirm_cancel": confirm_cancel,
        "note": note,
        "note_max": NOTE_MAX,
        "error": error,
    }
    return render(request, TEMPLATE, context, status=400 if error else 200)
