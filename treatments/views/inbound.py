"""The SMS provider's inbound webhook and the front desk's inbox of texts patients sent."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from clinic.scoping import location_ids_for
from treatments.models import InboundMessage
from treatments.services.inbound import inbound_message_handle, inbound_sms_receive

SIGNATURE_HEADER = "HTTP_X_CLINIC_SIGNATURE"


def body_signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@login_not_required
@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    """POST form fields ``from`` and ``body``, signed: header X-Clinic-Signature holds the hex
    HMAC-SHA256 of the raw body with SMS_INBOUND_SECRET. No secret configured: 404."""
    secret = settings.SMS_INBOUND_SECRET
    if not secret:
        raise Http404
    given = request.META.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(given.encode(), body_signature(request.body, secret).encode()):
        return HttpResponse("Bad signature.", status=403, content_type="text/plain")
    outcome = inbound_sms_receive(from_number=request.POST.get("from", ""), body=request.POST.get("body", ""))
    return HttpResponse(outcome, content_type="text/plain")


def _inbox(user):
    return InboundMessage.objects.filter(Q(location_id__in=location_ids_for(user)) | Q(location__isnull=True))


@permission_required("treatments.change_session", raise_exception=True)
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    rows = _inbox(request.user).select_related("patient", "handled_by")
    show = request.GET.get("show", "new")
    if show != "all":
        rows = rows.filter(status=InboundMessage.Status.NEW)
    return render(request, "treatments/inbox.html", {"rows": rows[:200], "show": show})


@permission_required("treatments.change_session", raise_exception=True)
@require_POST
def inbox_handle(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(_inbox(request.user), pk=pk)
    inbound_message_handle(actor=request.user, message=message)  # type: ignore[arg-type]
    messages.success(request, "Marked handled.")
    return redirect("treatments:inbox")
