"""Auth events have no service of ours to write their audit rows, so Django's signals do."""

from __future__ import annotations

import time

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from clinic.audit import AuditAction, audit_record


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session["login_at"] = time.time()
        request.session["last_activity"] = time.time()
    audit_record(actor=user, action=AuditAction.AUTH_LOGIN, obj=user)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_record(actor=user, action=AuditAction.AUTH_LOGOUT, obj=user)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    if credentials.get("factor"):
        return  # a wrong second-factor code: clinic.mfa wrote its own row, against the user
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=None,
        action=AuditAction.AUTH_LOGIN_FAILED,
        object_type="auth.user",
        object_repr=username,
    )


@receiver(user_locked_out)
def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    audit_record(
        actor=None,
        action=AuditAction.AUTH_LOCKOUT,
        object_type="auth.user",
        object_repr=str(username or "")[:150],
        after={"ip_address": ip_address},
    )
