"""Writes for clinic-wide records: staff accounts and locations. Each one is audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction

from clinic.audit import AuditAction, audit_record
from clinic.models import Location, StaffProfile
from clinic.roles import ROLES

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


def _staff_state(user) -> dict:
    profile = getattr(user, "staff_profile", None)
    return {
        "username": user.get_username(),
        "name": user.get_full_name(),
        "email": user.email,
        "is_active": user.is_active,
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "locations": sorted(profile.locations.values_list("code", flat=True)) if profile else [],
    }


@transaction.atomic
def staff_create(
    *,
    actor: User | None,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    role_key: str,
    locations: list[Location],
    password: str,
    job_title: str = "",
) -> User:
    user = User(username=username, first_name=first_name, last_name=last_name, email=email)
    user.set_password(password)
    user.full_clean()
    user.save()
    user.groups.set([Group.objects.get(name=ROLES[role_key].group)])
    profile = StaffProfile.objects.create(user=user, job_title=job_title)
    profile.locations.set(locations)
    audit_record(actor=actor, action=AuditAction.STAFF_CREATE, obj=user, after=_staff_state(user))
    return user


def staff_may_manage(*, actor: User, user: User) -> bool:
    """A manager may change an account only if every site it works at is one of theirs.

    Role, activity and email are account-wide: a manager of one site must not demote,
    lock out or promote someone who also works at a site they do not manage.
    """
    if actor.is_superuser:
        return True
    if user.is_superuser:
        return False
    mine = set(Location.objects.filter(staff__user=actor).values_list("id", flat=True))
    theirs = set(Location.objects.filter(staff__user=user).values_list("id", flat=True))
    return theirs <= mine


@transaction.atomic
def staff_update(
    *,
    actor: User,
    user: User,
    first_name: str,
    last_name: str,
    email: str,
    role_key: str,
    locations: list[Location],
    is_active: bool,
    job_title: str = "",
) -> User:
    if not staff_may_manage(actor=actor, user=user):
        raise PermissionDenied(
            f"{user.get_username()} also works at a site you do not manage; "
            "a manager of all their sites must change this account."
        )
    if user == actor and not is_active:
        raise ValueError("You cannot deactivate your own account.")
    before = _staff_state(user)
    if user == actor and role_key not in {r.key for r in ROLES.values() if r.group in before["roles"]}:
        raise ValueError("You cannot change your own role.")
    user.first_name, user.last_name, user.email, user.is_active = first_name, last_name, email, is_active
    user.full_clean()
    user.save()
    user.groups.set([Group.objects.get(name=ROLES[role_key].group)])
    profile, _ = StaffProfile.objects.get_or_create(user=user)
    profile.job_title = job_title
    profile.save()
    profile.locations.set(locations)
    audit_record(
        actor=actor, action=AuditAction.STAFF_UPDATE, obj=user, before=before, after=_staff_state(user)
    )
    return user
