"""Staff alerts: who to tell, what to write, and what was told already.

A sweep reads what is due in one query, builds unsaved ``Notification`` rows with
``staff_alert_rows`` (deterministic dedupe keys) and writes them with
``notifications_bulk_queue``: running it twice, or twice at once, writes each alert once.
``AlertMark`` rows remember what was alerted when the content alone cannot tell.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse

from clinic.models import AlertMark, Notification
from clinic.notifications.kinds import NotificationKind
from clinic.notifications.outbox import BULK_BATCH


@dataclass(frozen=True)
class Recipient:
    """A staff member to alert at a location."""

    user_id: int
    email: str
    name: str


def staff_recipients(permission: str, location_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """Active staff holding ``permission`` (through their role) at each location. One query."""
    app_label, codename = permission.split(".", 1)
    location_ids = list(set(location_ids))
    if not location_ids:
        return {}
    rows = (
        get_user_model()
        .objects.filter(
            is_active=True,
            staff_profile__locations__in=location_ids,
            groups__permissions__codename=codename,
            groups__permissions__content_type__app_label=app_label,
        )
        .values_list("pk", "email", "first_name", "username", "staff_profile__locations")
        .distinct()
        .order_by("pk")
    )
    found: dict[int, dict[int, Recipient]] = defaultdict(dict)
    for pk, email, first_name, username, location_id in rows:
        if location_id in location_ids:
            found[location_id][pk] = Recipient(pk, email or "", first_name or username)
    return {loc: list(people.values()) for loc, people in found.items()}


def absolute_url(path: str) -> str:
    """A link for a message read outside the site."""
    if not path or path.startswith(("http://", "https://")):
        return path
    return f"{settings.SITE_URL}{path}"


def safe_reverse(name: str, *args) -> str:
    """``reverse`` that answers "" while another app's screen does not exist yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def digest_key(parts: Iterable[str]) -> str:
    """A short, stable fingerprint of what a digest contains (the same content → the same key)."""
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]


def alert_marks_missing(keys: Iterable[str]) -> set[str]:
    """The keys not alerted yet. One query."""
    keys = set(keys)
    if not keys:
        return set()
    done = set(AlertMark.objects.filter(key__in=keys).values_list("key", flat=True))
    return keys - done


def alert_marks_set(keys: Iterable[str]) -> None:
    """Record keys as alerted (idempotent)."""
    marks = [AlertMark(key=key[:200]) for key in set(keys)]
    if marks:
        AlertMark.objects.bulk_create(marks, ignore_conflicts=True, batch_size=BULK_BATCH)


def staff_alert_rows(
    *,
    kind: NotificationKind,
    recipients: Iterable[Recipient],
    location_id: int | None,
    dedupe_key: str,
    template: str,
    context: dict,
    link: str = "",
    email: bool = True,
    in_app: bool = True,
) -> list[Notification]:
    """One in-site alert, and one email when the person has an address, for each recipient.

    ``template`` names the email templates (``email/<template>*.txt|html``); the in-site
    alert shows the same subject and text.
    """
    from clinic.mail import render_message

    rendered = render_message(template, {**context, "link": absolute_url(link)})
    rows: list[Notification] = []
    for person in recipients:
        if in_app:
            rows.append(
                Notification(
                    kind=kind,
                    channel=Notification.Channel.IN_APP,
                    recipient_user_id=person.user_id,
                    location_id=location_id,
                    subject=rendered.subject,
                    body=rendered.text,
                    link=link,
                    dedupe_key=f"{dedupe_key}:u{person.user_id}:in_app",
                )
            )
        if email and person.email:
            rows.append(
                Notification(
                    kind=kind,
                    channel=Notification.Channel.EMAIL,
                    recipient_user_id=person.user_id,
                    to_address=person.email,
                    location_id=location_id,
                    subject=rendered.subject,
                    body=rendered.text,
                    html_body=rendered.html,
                    link=link,
                    dedupe_key=f"{dedupe_key}:u{person.user_id}:email",
                )
            )
    return rows
