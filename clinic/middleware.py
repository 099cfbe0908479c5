from __future__ import annotations

import contextlib
import ipaddress
import re
import time
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_cache_control

from clinic.audit import AuditAction, audit_record
from clinic.context import client_ip_var, request_id_var
from clinic.mfa import role_requires_mfa

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def sign_out_to_login(request, reason: str):
    """End the session, say why, and send the user to sign in, back to this page afterwards."""
    logout(request)
    messages.info(request, reason)
    login_url = reverse(settings.LOGIN_URL)
    return redirect(f"{login_url}?{urlencode({'next': request.get_full_path()})}")


class ProxyClientAddressMiddleware:
    """Behind the TLS proxy (``BEHIND_TLS_PROXY``), ``REMOTE_ADDR`` is the address the proxy saw.

    gunicorn listens on a unix socket behind nginx, so ``REMOTE_ADDR`` arrives empty (over TCP it
    would be the proxy's own): every limit kept per client address (the sign-in lock-out of
    django-axes, the patient links' and password resets' rate limits) would share one key, and
    the audit trail would have no address. nginx overwrites ``X-Real-IP`` with the address it
    accepted the connection from, the same trust ``BEHIND_TLS_PROXY`` gives X-Forwarded-Proto.
    Without the setting the header is ignored (a client could write anything there), and a value
    that is not an IP address is never used."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.BEHIND_TLS_PROXY:
            real = request.META.get("HTTP_X_REAL_IP", "").strip()
            with contextlib.suppress(ValueError):  # not an address: REMOTE_ADDR as it came
                request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(real))
        return self.get_response(request)


class RequestContextMiddleware:
    """Gives each request an id (kept from X-Request-ID when well-formed) for the audit trail."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        id_token = request_id_var.set(request.request_id)
        ip_token = client_ip_var.set(request.META.get("REMOTE_ADDR") or None)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(id_token)
            client_ip_var.reset(ip_token)
        response["X-Request-ID"] = request.request_id
        return response


class NulQueryMiddleware:
    """Answers 400 (the "bad address" page) to a NUL byte in the path or the query string.

    No page has a use for one, and PostgreSQL refuses NUL in any text it is given, so a ``?q=%00``
    that reached a search or a filter would be a database error, a 500. Refused here once rather
    than in every view that reads a parameter; form fields refuse NUL in posted data already."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            raise BadRequest("A NUL byte in the address.")
        return self.get_response(request)


class SessionTimeoutMiddleware:
    """Signs a user out after an idle period and after an absolute lifetime since login."""

    # Refresh the activity stamp at most this often, so most requests write no session.
    TOUCH_EVERY_SECONDS = 30

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            session = request.session
            idle_limit = settings.SESSION_IDLE_TIMEOUT_MINUTES * 60
            absolute_limit = settings.SESSION_ABSOLUTE_HOURS * 3600
            last = session.get("last_activity", now)
            started = session.get("login_at", now)
            reason = None
            if now - last > idle_limit:
                reason = (
                    f"You were signed out after {settings.SESSION_IDLE_TIMEOUT_MINUTES} "
                    "minutes without activity."
                )
            elif now - started > absolute_limit:
                reason = "Your session reached its maximum length; please sign in again."
            if reason:
                return sign_out_to_login(request, reason)
            if "login_at" not in session:
                session["login_at"] = now
            if now - last >= self.TOUCH_EVERY_SECONDS or "last_activity" not in session:
                session["last_activity"] = now
        return self.get_response(request)


class PrivateCacheMiddleware:
    """Every response to a signed-in user is ``Cache-Control: private, no-store``: pages of
    patient data must not stay in a shared proxy or in the browser's history cache of a
    clinic's shared tablet (ASVS 8.2.1). Files, CSV and JSON already said so."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class SecondFactorMiddleware:
    """Signs out a session that has no second factor when the user's role requires one.

    The site's sign-in gives such a session only after the code (``clinic.account_views``), so this
    catches the rest: a session from before the role needed it, one whose device a manager has
    just reset (django-otp then finds no device for the session), any other way in."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            settings.MFA_REQUIRED_ROLES
            and user.is_authenticated
            and not user.is_verified()
            and role_requires_mfa(user)
        ):
            return sign_out_to_login(
                request, "Sign in again with your password and a code from your authenticator app."
            )
        return self.get_response(request)


class RefusalAuditMiddleware:
    """Writes an audit row when a signed-in user is refused (403) or told "not found" (404) on a
    patient's records, photos, consent signatures or a regulatory document: someone trying the
    ids of another site's patients shows up in the audit browser (``access.refused``)."""

    AUDITED_NAMESPACES = frozenset({"treatments", "photos"})
    AUDITED_VIEWS = frozenset(
        {
            "products:document_download",
            "products:document_renew",
            "products:product_document_upload",
            "products:lot_document_upload",
        }
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (Http404, PermissionDenied)):
            return None
        match = getattr(request, "resolver_match", None)
        user = getattr(request, "user", None)
        if match is None or user is None or not user.is_authenticated:
            return None
        if match.namespace not in self.AUDITED_NAMESPACES and match.view_name not in self.AUDITED_VIEWS:
            return None
        status = 403 if isinstance(exception, PermissionDenied) else 404
        object_id = next((str(v) for k, v in match.kwargs.items() if k in ("pk", "id")), "")
        audit_record(
            actor=user,
            action=AuditAction.ACCESS_REFUSED,
            object_type=match.view_name[:100],
            object_id=object_id[:64],
            object_repr=f"{status} {request.method} {request.path}"[:200],
            after={"status": status, "method": request.method, "path": request.path[:500]},
        )
        return None
