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
from treatments.models import Session
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
    if rate_wait(f"{page}:client:{client}", PATIENT_LINK_LIMIT) is not None:
        return refuse(request, "limited")
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
    if request.method == "POST":
        try:
            session = session_patient_respond(
                session=session, answer=request.POST.get("answer", ""), note=request.POST.get("note", "")
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    context = {
        "state": "page",
        "first_name": session.patient.first_name,
        "starts_at": session.starts_at,
        "location": session.location,
        "practitioner_first_name": session.practitioner.first_name,
        "answer": session.patient_response,
        "answer_label": session.get_patient_response_display(),
        "is_booked": session.status == "booked",
        "in_window": links.within_cancellation_window(session.starts_at),
        "error": error,
    }
    return render(request, TEMPLATE, context, status=400 if error else 200)
