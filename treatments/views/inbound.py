"""The SMS provider's inbound webhook and the front desk's inbox of texts patients sent."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.cache import caches
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from clinic.scoping import location_ids_for
from clinic.tables import paginate, sort_queryset
from products.feeds import RATE_CACHE, Rate, rate_wait
from treatments.models import InboundMessage
from treatments.services.inbound import inbound_message_handle, inbound_sms_receive

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP_X_CLINIC_SIGNATURE"
TIMESTAMP_HEADER = "HTTP_X_CLINIC_TIMESTAMP"
# A signed request is good for this long either side of its timestamp (clock skew, a quick
# retry), and each one is acted on once: an old "C" resent would confirm whatever appointment
# the patient has next, an old "STOP" would turn reminders off again.
MAX_AGE_SECONDS = 300
# As for the loggers' feed (products/views/feeds.py): only refused signatures are held off per
# address, not the address itself (the provider sends every patient's reply from a few
# addresses); signed texts are limited per sender, so one number cannot flood the inbox.
BAD_SIGNATURE_RATE = Rate(20, 60)
SENDER_RATE = Rate(20, 3600)
INBOX_SORTS = {"received": "received_at", "from": "from_number", "status": "status"}


def _too_many(wait: int, what: str) -> HttpResponse:
    response = HttpResponse(f"Too many {what}; wait.", status=429, content_type="text/plain")
    response["Retry-After"] = str(wait)
    return response


def body_signature(body: bytes, secret: str, timestamp: str) -> str:
    """The hex HMAC-SHA256, keyed with the secret, of the timestamp, a dot and the raw body."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _first_time(signature: str) -> bool:
    """Whether this signed request is new (remembered past its timestamp's window). A cache
    that does not answer lets it through, logged: the timestamp still bounds a replay."""
    try:
        return bool(caches[RATE_CACHE].add(f"sms-inbound:seen:{signature}", 1, timeout=2 * MAX_AGE_SECONDS))
    except Exception:  # any cache backend's connection error
        logger.warning("Cache unavailable; inbound SMS not checked for replay", exc_info=True)
        return True


@login_not_required
@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    """POST form fields ``from`` and ``body``, signed: header X-Clinic-Timestamp holds the Unix
    time of the sending, X-Clinic-Signature the hex HMAC-SHA256 (key SMS_INBOUND_SECRET) of
    that timestamp, a dot and the raw body. Refused: a bad signature, a timestamp more than
    ``MAX_AGE_SECONDS`` away; a request already received is answered but not acted on again.
    No secret configured: 404."""
    secret = settings.SMS_INBOUND_SECRET
    if not secret:
        raise Http404
    given = request.META.get(SIGNATURE_HEADER, "")
    stamp = request.META.get(TIMESTAMP_HEADER, "")
    signed = stamp.isascii() and stamp.isdigit() and len(stamp) <= 12
    expected = body_signature(request.body, secret, stamp if signed else "")
    authentic = signed and hmac.compare_digest(given.encode(), expected.encode())
    fresh = signed and abs(time.time() - int(stamp)) <= MAX_AGE_SECONDS
    if not (authentic and fresh):
        client = request.META.get("REMOTE_ADDR") or "unknown"
        if wait := rate_wait(f"sms-inbound:bad:{client}", BAD_SIGNATURE_RATE):
            return _too_many(wait, "refused signatures from this address")
        if authentic:
            return HttpResponse(
                "Stale request: sign it again with the current time.", status=403, content_type="text/plain"
            )
        return HttpResponse("Bad signature.", status=403, content_type="text/plain")
    sender = request.POST.get("from", "")
    if wait := rate_wait(f"sms-inbound:from:{hashlib.sha256(sender.encode()).hexdigest()}", SENDER_RATE):
        return _too_many(wait, "texts from this number")
    if not _first_time(given):
        return HttpResponse("already received", content_type="text/plain")
    outcome = inbound_sms_receive(from_number=sender, body=request.POST.get("body", ""))
    return HttpResponse(outcome, content_type="text/plain")


def _inbox(user):
    return InboundMessage.objects.filter(Q(location_id__in=location_ids_for(user)) | Q(location__isnull=True))


@permission_required("treatments.change_session", raise_exception=True)
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """The texts of the user's locations and from unknown senders: new ones (``?show=all``:
    every one), ``?q=`` in the number or the text, sorted by a column, a page at a time."""
    rows = _inbox(request.user).select_related("patient", "handled_by")
    show = "all" if request.GET.get("show") == "all" else "new"
    if show == "new":
        rows = rows.filter(status=InboundMessage.Status.NEW)
    q = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    if q:
        rows = rows.filter(Q(from_number__icontains=q) | Q(body__icontains=q))
    rows, sort = sort_queryset(request, rows, INBOX_SORTS, "-received")
    context = {"page": paginate(request, rows), "show": show, "q": q, "sort": sort}
    return render(request, "treatments/inbox.html", context)


@permission_required("treatments.change_session", raise_exception=True)
@require_POST
def inbox_handle(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(_inbox(request.user), pk=pk)
    inbound_message_handle(actor=request.user, message=message)  # type: ignore[arg-type]
    messages.success(request, "Marked handled.")
    return redirect("treatments:inbox")
