"""The page a reminder link opens: confirm, cancel or ask for another time, without login.

GET shows the page (mail scanners follow links); only POST changes anything. Nothing clinical
is shown: first name, date and time, location, practitioner's first name."""

from __future__ import annotations

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
# Per client address, like the password-reset limit (clinic/account_views.py).
RESPOND_LIMIT = Rate(30, 3600)


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def session_respond(request: HttpRequest, token: str) -> HttpResponse:
    if rate_wait(f"session-respond:client:{_client(request)}", RESPOND_LIMIT) is not None:
        return render(request, TEMPLATE, {"state": "limited"}, status=429)
    try:
        session_id = links.session_id_from_token(token)
    except links.LinkExpired:
        return render(request, TEMPLATE, {"state": "expired"}, status=410)
    except links.LinkInvalid:
        return render(request, TEMPLATE, {"state": "invalid"}, status=400)
    session = (
        Session.objects.select_related("patient", "location", "practitioner").filter(pk=session_id).first()
    )
    if session is None:
        return render(request, TEMPLATE, {"state": "invalid"}, status=400)
    if links.link_expired_for(session.starts_at):
        return render(request, TEMPLATE, {"state": "expired"}, status=410)
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
