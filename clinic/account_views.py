"""Signing in and keeping an account safe: password step, second factor, resets.

Sign-in is two steps with no signed-in session between them. A correct password for an account
that needs a second factor only notes, in the (new) session, who is half-way and for how long
(``MFA_PENDING_MINUTES``); Django's ``login()`` runs once the code is right. So a stolen password
alone opens no page, and axes' reset of failures on success happens only after both factors:
wrong codes count toward the same lock-out as wrong passwords.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import segno
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, permission_required
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_encode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from clinic import mfa
from clinic.audit import AuditAction, audit_record
from clinic.scoping import AuthenticatedHttpRequest
from clinic.views import managed_colleague
from products.feeds import Rate, rate_wait

if TYPE_CHECKING:
    from django.contrib.auth.models import User as AuthUser

User = get_user_model()

PENDING_KEY = "mfa_pending"
NEW_CODES_KEY = "mfa_new_codes"
NEXT_KEY = "mfa_next"


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}
        ),
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
    )


class EnrolForm(CodeForm):
    """The code at set-up: only the app's code (no recovery codes yet), so a number pad."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["code"]
        field.label = "Code from the app"
        field.help_text = "The 6-digit code the app shows now for this account."
        field.widget.attrs["inputmode"] = "numeric"


# --- Sign-in ---------------------------------------------------------------------------------


class SignInView(auth_views.LoginView):
    """Django's sign-in (axes counts its failures); then, for an account with a second factor,
    the code step instead of ``login()``."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if not mfa.needs_second_factor(user):
            return super().form_valid(form)
        session = self.request.session
        session.cycle_key()
        session[PENDING_KEY] = {
            "user": user.pk,
            "backend": user.backend,
            "at": time.time(),
            "next": self.get_success_url(),
        }
        return redirect("mfa_verify" if mfa.has_second_factor(user) else "mfa_enrol")


def _pending_user(request: HttpRequest):
    """The user who gave a right password in this session within ``MFA_PENDING_MINUTES``."""
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("at", 0)) > settings.MFA_PENDING_MINUTES * 60:
        request.session.pop(PENDING_KEY, None)
        return None
    user_id = pending.get("user")
    if not isinstance(user_id, int):
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None:
        user.backend = pending.get("backend", settings.AUTHENTICATION_BACKENDS[-1])
    return user


def _safe_next(request: HttpRequest, url: str | None) -> str:
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return url
    return reverse(settings.LOGIN_REDIRECT_URL)


def _restart(request: HttpRequest, text: str) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    messages.info(request, text)
    return redirect("login")


def _locked_out(request: HttpRequest) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, status=429)


def _finish_sign_in(request: HttpRequest, user, device) -> str:
    """Sign the half-way user in, verified with ``device``; returns where they were going."""
    pending = request.session.get(PENDING_KEY) or {}
    target = _safe_next(request, pending.get("next"))
    user.otp_device = device  # django-otp keeps it in the session when login() runs
    auth_login(request, user, backend=user.backend)
    request.session.pop(PENDING_KEY, None)
    return target


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return _restart(request, "Enter your username and password first.")
    if not mfa.has_second_factor(user):
        return redirect("mfa_enrol")
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        return _locked_out(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = mfa.mfa_code_check(user=user, code=form.cleaned_data["code"])
        if check.device is not None:
            if check.recovery_left is not None:
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {check.recovery_left} left. "
                    "If your phone is lost, ask a manager to reset your second factor.",
                )
            return HttpResponseRedirect(_finish_sign_in(request, user, check.device))
        mfa.mfa_failure_record(user=user)
        # Counted by axes like a wrong password, under the same username and address.
        user_login_failed.send(
            sender=__name__, credentials={**credentials, "factor": "code"}, request=request
        )
        if getattr(request, "axes_locked_out", False):
            return _locked_out(request)
        if check.wait_seconds:
            form.add_error(
                "code", f"Too many wrong codes: wait {check.wait_seconds} seconds, then try again."
            )
        else:
            form.add_error("code", "That code is not right. Enter the code the app shows now.")
    return render(request, "registration/mfa_verify.html", {"form": form, "username": user.get_username()})


def _qr_svg(device) -> str:
    # segno draws the otpauth:// URL as an SVG of paths: no script, no style attribute (CSP).
    return segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#000", light="#fff", border=2)


def _secret_groups(device) -> str:
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator: at a first sign-in (half-way, password given) or from the
    account page (signed in, to add one or move to a new phone)."""
    signed_in = request.user.is_authenticated
    user = cast("AuthUser", request.user) if signed_in else _pending_user(request)
    if user is None:
        return _restart(request, "Enter your username and password first.")
    if not signed_in and mfa.has_second_factor(user):
        # Half-way with a password only: replacing the existing factor needs the old one.
        return redirect("mfa_verify")
    device = mfa.pending_totp_device(user) or mfa.totp_device_start(user=user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        enrolment = mfa.mfa_enrol_confirm(user=user, device=device, code=form.cleaned_data["code"])
        if enrolment is not None:
            request.session[NEW_CODES_KEY] = enrolment.recovery_codes
            if signed_in:
                from django_otp import login as otp_login

                otp_login(request, enrolment.device)
                request.session[NEXT_KEY] = reverse("mfa_account")
            else:
                # login() keeps the session's data (it had no signed-in user), codes included.
                request.session[NEXT_KEY] = _finish_sign_in(request, user, enrolment.device)
            return redirect("mfa_recovery_codes")
        device.refresh_from_db()
        if device.verify_is_allowed()[0]:
            form.add_error(
                "code",
                "That code is not right. Check that the phone sets its clock automatically, "
                "then enter the code the app shows now.",
            )
        else:
            form.add_error(
                "code", "That code is not right. Wait a few seconds, then enter the code the app shows now."
            )
    return render(
        request,
        "registration/mfa_enrol.html",
        {
            "form": form,
            "qr_svg": _qr_svg(device),
            "secret": _secret_groups(device),
            "issuer": settings.OTP_TOTP_ISSUER,
            "username": user.get_username(),
            "first_time": not signed_in,
        },
    )


@never_cache
@require_http_methods(["GET"])
def mfa_recovery_codes(request: AuthenticatedHttpRequest) -> HttpResponse:
    """New recovery codes, shown once: they are stored only as django-otp's tokens."""
    codes = request.session.pop(NEW_CODES_KEY, None)
    next_url = _safe_next(request, request.session.pop(NEXT_KEY, None))
    if not codes:
        return redirect("mfa_account")
    return render(request, "registration/mfa_recovery_codes.html", {"codes": codes, "next_url": next_url})


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_account(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The signed-in user's own second factor: state, moving to a new phone, new recovery codes
    (which needs a current code from the app, so a left-open session cannot take them)."""
    user = request.user
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = mfa.normalise_code(form.cleaned_data["code"])
        check = mfa.mfa_code_check(user=user, code=code) if code.isdigit() else mfa.CodeCheck(device=None)
        if check.device is not None:
            request.session[NEW_CODES_KEY] = mfa.mfa_recovery_codes_replace(user=user)
            request.session[NEXT_KEY] = reverse("mfa_account")
            return redirect("mfa_recovery_codes")
        mfa.mfa_failure_record(user=user)
        form.add_error("code", "That code is not right. Enter the code the app shows now.")
    return render(
        request,
        "registration/mfa_account.html",
        {
            "form": form,
            "enrolled": mfa.has_second_factor(user),
            "required": mfa.role_requires_mfa(user),
            "codes_left": mfa.recovery_codes_left(user),
        },
    )


# --- Password reset --------------------------------------------------------------------------

RESET_LIMIT = Rate(5, 3600)


def _reset_allowed(email: str, client: str) -> bool:
    """At most ``RESET_LIMIT`` links an hour per address and per client (self-service or sent by
    a manager), so the flow can neither find out who works here nor flood an inbox."""
    waits = [
        rate_wait(f"password-reset:client:{client}", RESET_LIMIT),
        rate_wait("password-reset:address:" + hashlib.sha256(email.encode()).hexdigest(), RESET_LIMIT),
    ]
    return all(wait is None for wait in waits)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's token flow (the link is valid for ``PASSWORD_RESET_TIMEOUT`` and once only),
    giving the same answer whether or not the address belongs to anyone. The email goes straight
    out, not through the outbox: a reset token must not sit in a database table."""

    RESET_LIMIT = RESET_LIMIT.limit
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().lower()
        if not _reset_allowed(email, self.request.META.get("REMOTE_ADDR", "")):
            # The same answer as a sent link: nothing says the limit was reached for whom.
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(actor=form.user, action=AuditAction.AUTH_PASSWORD_RESET, obj=form.user)
        return response


# --- A manager acting on a colleague's account ------------------------------------------------


def _colleague(request: AuthenticatedHttpRequest, pk: int):
    member = managed_colleague(request, pk)
    if member.pk == request.user.pk:
        raise PermissionDenied("Use your own account page for your own sign-in.")
    return member


@permission_required("clinic.manage_staff", raise_exception=True)
@require_POST
def staff_mfa_reset(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    member = _colleague(request, pk)
    removed = mfa.mfa_reset(actor=request.user, user=member)
    if removed:
        messages.success(
            request,
            f"{member.username}'s second factor is removed: they set up a new one at their next sign-in.",
        )
    else:
        messages.info(request, f"{member.username} had no second factor set up; nothing changed.")
    return redirect("clinic:staff_edit", pk=member.pk)


@permission_required("clinic.manage_staff", raise_exception=True)
@require_POST
def staff_password_reset_send(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Email a colleague the same one-use reset link they could ask for themselves; the manager
    never sees the link or the new password."""
    member = _colleague(request, pk)
    email = (member.email or "").strip()
    if not member.is_active or not email or not member.has_usable_password():
        messages.error(
            request,
            f"{member.username} needs an active account with an email address "
            "before a reset link can be sent.",
        )
        return redirect("clinic:staff_edit", pk=member.pk)
    if not _reset_allowed(email.lower(), request.META.get("REMOTE_ADDR", "")):
        messages.error(
            request, f"Reset links for {member.username} reached the hourly limit; try again later."
        )
        return redirect("clinic:staff_edit", pk=member.pk)
    site = urlsplit(settings.SITE_URL)
    context = {
        "email": email,
        "domain": site.netloc,
        "site_name": settings.CLINIC_NAME,
        "uid": urlsafe_base64_encode(force_bytes(member.pk)),
        "user": member,
        "token": default_token_generator.make_token(member),
        "protocol": site.scheme,
    }
    PasswordResetForm().send_mail(
        PasswordResetView.subject_template_name,
        PasswordResetView.email_template_name,
        context,
        None,
        email,
    )
    audit_record(actor=request.user, action=AuditAction.STAFF_PASSWORD_RESET_SEND, obj=member)
    messages.success(request, f"A password reset link is on its way to {member.username}'s email address.")
    return redirect("clinic:staff_edit", pk=member.pk)
