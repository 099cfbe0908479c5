"""Networked loggers: the managers' token pages, and the endpoint loggers push readings to.

The endpoint answers JSON to every request, whatever it holds: 401 for any token that is not
a live token of that unit (an unknown unit too, so it tells nobody which units exist), 400
with the reason for a body it cannot read, 413 past the size limits (checked on the declared
length before reading, and never reading more than the limit), 415, 405, 429 with
Retry-After. Nothing is read or parsed for a client that has not shown a live token.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from clinic.files import store_private
from clinic.forms import error_text
from clinic.scoping import AuthenticatedHttpRequest, get_for_user_or_404
from products import loggerfiles
from products.feed_forms import FeedTokenForm
from products.feeds import (
    BAD_TOKEN_RATE,
    MAX_BODY_BYTES,
    MAX_READINGS,
    TOKEN_RATE,
    FeedBodyError,
    parse_json_batch,
    rate_wait,
)
from products.models import ImportChannel, ImportStatus, LoggerFeedToken, StorageUnit
from products.services import readings
from products.services.feeds import feed_token_authenticate, feed_token_create, feed_token_revoke

JSON_TYPES = {"application/json"}
CSV_TYPES = {"text/csv", "application/csv"}
# Answers to what a CSV export may leave open, given in the query string in advance
# (``?date_format=dmy``), since a logger cannot answer a question on the site.
CSV_ANSWERS = {"date_format": ("dmy", "mdy"), "temperature_unit": ("C", "F")}


# --- The managers' pages --------------------------------------------------------------------


def _unit(request: HttpRequest, pk: int) -> StorageUnit:
    return get_for_user_or_404(StorageUnit.objects.select_related("location"), request.user, pk=pk)


@permission_required("products.change_storageunit", raise_exception=True)
@require_http_methods(["GET", "POST"])
def feed_tokens(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET: the unit's tokens. POST: a new one, whose plaintext this one response shows."""
    unit = _unit(request, pk)
    form = FeedTokenForm(request.POST or None)
    created = plaintext = None
    if request.method == "POST" and form.is_valid():
        try:
            created, plaintext = feed_token_create(
                unit=unit, name=form.cleaned_data["name"], actor=request.user
            )
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            form = FeedTokenForm()
    tokens = unit.feed_tokens.select_related("created_by", "revoked_by")
    response = render(
        request,
        "products/feed_tokens.html",
        {
            "unit": unit,
            "form": form,
            "tokens": tokens,
            "created": created,
            "plaintext": plaintext,
            "endpoint": request.build_absolute_uri(reverse("products:feed_readings", args=[unit.pk])),
            "max_bytes": MAX_BODY_BYTES,
            "max_readings": MAX_READINGS,
            "token_rate": TOKEN_RATE,
        },
    )
    response["Cache-Control"] = "no-store"  # the page may hold a token in plain text
    return response


@permission_required("products.change_storageunit", raise_exception=True)
@require_http_methods(["GET", "POST"])
def feed_token_revoke_view(request: AuthenticatedHttpRequest, pk: int, token_pk: int) -> HttpResponse:
    """GET: confirm. POST: the token stops working at once."""
    unit = _unit(request, pk)
    token = get_object_or_404(unit.feed_tokens.all(), pk=token_pk)
    if request.method == "POST":
        feed_token_revoke(token=token, actor=request.user)
        messages.success(request, f"The token “{token.name}” ({token.prefix}…) is revoked.")
        return redirect("products:feed_tokens", pk=unit.pk)
    return render(request, "products/feed_token_revoke.html", {"unit": unit, "token": token})


# --- The endpoint ---------------------------------------------------------------------------


def _answer(status: int, payload: dict[str, Any], **headers: str) -> JsonResponse:
    response = JsonResponse(payload, status=status, json_dumps_params={"ensure_ascii": False})
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _error(status: int, message: str, **headers: str) -> JsonResponse:
    return _answer(status, {"error": message}, **headers)


def _unauthorised() -> JsonResponse:
    return _error(
        401,
        "Send a live token of this storage unit: Authorization: Bearer <token>.",
        WWW_Authenticate='Bearer realm="logger-feed"',
    )


def _bearer(request: HttpRequest) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def _declared_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isdigit() else None


@csrf_exempt  # a logger holds no CSRF cookie; the token in the header is the proof
@login_not_required
@never_cache
def feed_readings(request: HttpRequest, pk: int) -> HttpResponse:
    """``POST /products/units/<pk>/feed/readings``: a batch of readings as JSON or CSV."""
    if request.method != "POST":
        return _error(405, "Send readings with POST.", Allow="POST")
    token = feed_token_authenticate(unit=pk, raw=_bearer(request))
    if token is None:
        # Only the refused tokens are held off, not the address: the loggers of a clinic share
        # one address (NAT, or the proxy's), and one device left with a revoked token retrying
        # must not lock the others out. Guessing a 256-bit token is hopeless anyway; this only
        # keeps a guesser's (or a stale device's) answers to 20 a minute.
        client = request.META.get("REMOTE_ADDR") or "unknown"
        wait = rate_wait(f"bad:{client}", BAD_TOKEN_RATE)
        if wait:
            return _error(429, "Too many refused tokens from this address; wait.", Retry_After=str(wait))
        return _unauthorised()
    wait = rate_wait(f"token:{token.pk}", TOKEN_RATE)
    if wait:
        return _error(
            429,
            f"More than {TOKEN_RATE.limit} batches in {TOKEN_RATE.seconds} s with this token; "
            "send fewer, larger batches.",
            Retry_After=str(wait),
        )

    content_type = request.content_type or ""
    if content_type not in JSON_TYPES | CSV_TYPES:
        return _error(
            415, f"Send Content-Type application/json or text/csv, not “{content_type[:60] or 'none'}”."
        )
    declared = _declared_length(request)
    too_big = f"The body is over {MAX_BODY_BYTES} bytes; send smaller batches."
    if declared is not None and declared > MAX_BODY_BYTES:
        return _error(413, too_big)
    body = request.read(MAX_BODY_BYTES + 1)  # never more: the declared length may lie
    if len(body) > MAX_BODY_BYTES:
        return _error(413, too_big)
    if not body:
        return _error(400, "The body is empty.")

    unit = token.storage_unit
    try:
        if content_type in JSON_TYPES:
            parsed = parse_json_batch(body, tzinfo=unit.logger_tzinfo)
        else:
            parsed = _parse_csv(request, body, unit)
    except FeedBodyError as exc:
        return _error(exc.status, exc.message)
    except (ValidationError, ValueError) as exc:  # what the CSV reader finds unreadable
        return _error(400, " ".join(getattr(exc, "messages", None) or [str(exc)]))
    return _import(
        token=token, parsed=parsed, body=body, kind="json" if content_type in JSON_TYPES else "csv"
    )


def _parse_csv(request: HttpRequest, body: bytes, unit: StorageUnit) -> loggerfiles.LoggerFile:
    answers = {key: request.GET[key] for key in CSV_ANSWERS if request.GET.get(key)}
    for key, allowed in CSV_ANSWERS.items():
        if key in answers and answers[key] not in allowed:
            raise FeedBodyError(f"{key} must be one of {', '.join(allowed)}, not “{answers[key][:20]}”.")
    parsed = loggerfiles.analyse(
        io.BytesIO(body), clock=unit.logger_tzinfo, answers=answers or None, now=timezone.now()
    )
    if parsed.readings > MAX_READINGS:
        raise FeedBodyError(
            f"The file holds {parsed.readings} readings; send at most {MAX_READINGS} at a time.", status=413
        )
    return parsed


def _import(
    *, token: LoggerFeedToken, parsed: loggerfiles.LoggerFile, body: bytes, kind: str
) -> HttpResponse:
    digest = hashlib.sha256(body).hexdigest()
    filename = f"{token.name} ({token.prefix}…) {timezone.now():%Y-%m-%dT%H:%M:%SZ}.{kind}"
    # A CSV export is kept like an uploaded file: a question it asks is answered on the
    # import's page, which reads it again (a JSON batch never asks).
    stored = ""
    if kind == "csv":
        stored = store_private(body, folder="logger-files", kind="text").name
    arguments = {
        "unit": token.storage_unit,
        "parsed": parsed,
        "sha256": digest,
        "filename": filename[:200],
        "actor": None,  # a device, not a person: the batch's filename names the token
        "channel": ImportChannel.FEED,
        "file_name": stored,
    }
    try:
        try:
            result = readings.readings_import_parsed(**arguments)
        except IntegrityError:
            # The same batch sent twice at once: the first holds the (unit, file) key; asked
            # again, the import finds it and answers "already imported".
            result = readings.readings_import_parsed(**arguments)
    except ValidationError as exc:
        return _error(400, " ".join(exc.messages))
    except IntegrityError:
        return _error(409, "The same batch is being imported right now; send it again.", Retry_After="1")
    batch = result.batch
    summary = batch.summary if isinstance(batch.summary, dict) else {}
    payload: dict[str, Any] = {
        "status": batch.status,
        "batch": batch.pk,
        "lines": batch.lines,
        "rows": batch.rows,
        "added": result.added,
        # A repeated batch: everything in it is already held.
        "already_held": batch.rows if result.already_imported else batch.already_held,
        "refused": summary.get("refused_lines", []),
        "refused_count": batch.refused,
        "already_imported": result.already_imported,
        "excursions_opened": [e.pk for e in result.excursions.opened] if result.excursions else [],
    }
    if batch.status == ImportStatus.REFUSED:
        payload["error"] = "Nothing from this batch was imported: the lines in “refused” cannot be read."
        return _answer(400, payload)
    if batch.status == ImportStatus.PENDING:
        payload["questions"] = [
            {"key": q.key, "prompt": q.prompt, "line": q.line, "text": q.text, "choices": q.choices}
            for q in parsed.questions
        ]
        payload["error"] = (
            "The batch is held until a manager answers on the unit's page; answer in advance with "
            "?date_format=… or ?temperature_unit=… on the URL."
        )
        return _answer(202, payload)
    return _answer(200, payload)
