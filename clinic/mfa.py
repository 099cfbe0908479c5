"""The second factor at sign-in: an authenticator app (TOTP) plus one-use recovery codes.

django-otp keeps the devices and checks codes: RFC 6238 with a one-step tolerance and no reuse
of a code, and a wait that doubles after each wrong code (per device, kept in the database, so
it survives a new sign-in). What is ours: which accounts need a second factor
(``MFA_REQUIRED_ROLES``, and anyone who has set one up), the audit rows, and the manager's reset.
Views are in ``clinic/mfa_views.py``; the sign-in itself stays a password step then a code step,
with no signed-in session in between (see ``SignInView``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.audit import AuditAction, audit_record
from clinic.roles import role_of

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_otp.models import Device

APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
_TOTP_CODE = re.compile(r"^\d{6}$")
# Recovery codes are 8 base32 letters (40 bits), shown as two groups of four.
_RECOVERY_CODE = re.compile(r"^[a-z2-7]{8}$")


def role_requires_mfa(user: User) -> bool:
    role = role_of(user)
    return role is not None and role.key in settings.MFA_REQUIRED_ROLES


def has_second_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def needs_second_factor(user: User) -> bool:
    """Whether signing in asks for a code: the role requires it, or the user set one up."""
    return role_requires_mfa(user) or has_second_factor(user)


def format_recovery_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalise_code(code: str) -> str:
    """What the user typed, without the spaces and hyphens apps and our display put in."""
    return re.sub(r"[\s-]", "", code or "").lower()[:32]


def totp_device_start(*, user: User) -> TOTPDevice:
    """A new, unconfirmed authenticator for the user; earlier unconfirmed ones are dropped, so
    only the secret now on screen can be confirmed."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)


def pending_totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes: set[str] = set()
    while len(codes) < settings.MFA_RECOVERY_CODES:
        codes.add(StaticToken.random_token())
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in sorted(codes))
    return [format_recovery_code(code) for code in sorted(codes)]


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    recovery_codes: list[str]


def mfa_enrol_confirm(*, user: User, device: TOTPDevice, code: str) -> Enrolment | None:
    """Confirm the authenticator when ``code`` is right for it; then replace any earlier
    authenticator and make a fresh set of recovery codes. None (nothing changed) when wrong."""
    code = normalise_code(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
        if not _TOTP_CODE.match(code) or not device.verify_token(code):
            return None
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_recovery_codes(user)
        audit_record(actor=user, action=AuditAction.MFA_ENROL, obj=user, after={"device": device.name})
    return Enrolment(device=device, recovery_codes=codes)


@dataclass(frozen=True)
class CodeCheck:
    device: Device | None
    recovery_left: int | None = None
    wait_seconds: int = 0


def mfa_code_check(*, user: User, code: str) -> CodeCheck:
    """Check a code from the app or a recovery code (each recovery code works once). Writes the
    audit row for an accepted code; the caller handles a refusal (it counts toward lock-out)."""
    code = normalise_code(code)
    if _TOTP_CODE.match(code):
        devices: list[Device] = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    elif _RECOVERY_CODE.match(code):
        devices = list(StaticDevice.objects.filter(user=user, confirmed=True))
    else:
        return CodeCheck(device=None)
    wait = 0
    for device in devices:
        with transaction.atomic():
            locked = type(device).objects.select_for_update().get(pk=device.pk)
            allowed, data = locked.verify_is_allowed()
            if not allowed:
                until = (data or {}).get("locked_until")
                if until is not None:
                    wait = max(wait, int((until - timezone.now()).total_seconds()) + 1)
                continue
            if locked.verify_token(code):
                if isinstance(locked, StaticDevice):
                    left = locked.token_set.count()
                    audit_record(
                        actor=user, action=AuditAction.MFA_RECOVERY_USE, obj=user, after={"codes_left": left}
                    )
                    return CodeCheck(device=locked, recovery_left=left)
                audit_record(actor=user, action=AuditAction.MFA_VERIFY, obj=user)
                return CodeCheck(device=locked)
    return CodeCheck(device=None, wait_seconds=wait)


def mfa_failure_record(*, user: User) -> None:
    audit_record(actor=None, action=AuditAction.MFA_FAILED, obj=user)


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def mfa_recovery_codes_replace(*, user: User) -> list[str]:
    """A fresh set of recovery codes; the old ones stop working."""
    with transaction.atomic():
        codes = _new_recovery_codes(user)
        audit_record(actor=user, action=AuditAction.MFA_RECOVERY_CODES_NEW, obj=user)
    return codes


def mfa_reset(*, actor: User, user: User) -> int:
    """Remove a colleague's authenticator and recovery codes (a lost phone): they set up a new
    one at their next sign-in. Their sessions verified with the old device end at once
    (``SecondFactorMiddleware``). Returns how many devices were removed."""
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[0]
        StaticDevice.objects.filter(user=user).delete()
        audit_record(actor=actor, action=AuditAction.MFA_RESET, obj=user, before={"devices": removed})
    return removed
