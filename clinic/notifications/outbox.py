"""The outbox: anything to send is a Notification row first, then a Celery task by id.

``notification_queue`` is called inside the caller's transaction; the row commits with
the change that caused it and is enqueued only after commit. If Redis is down, enqueueing
fails quietly (logged) and the periodic sweep sends the row when the broker is back.
``notifications_bulk_queue`` writes many rows at once for the set-based sweeps, and
``notifications_bulk_queue_select`` as one ``INSERT … SELECT`` when every row is a column
expression over a queryset (nothing read into Python).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.constants import OnConflict
from django.db.models.functions import Left
from django.utils import timezone
from django.utils.module_loading import import_string

from clinic.audit import AuditAction, audit_record
from clinic.celery import app as celery_app
from clinic.channels import UndeliverableError, deliver
from clinic.models import Location, Notification
from clinic.notifications.kinds import NotificationKind

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# No batch size of our own: Django writes all rows in one statement on PostgreSQL (arrays
# through UNNEST, so no parameter limit) and splits only where SQLite's limit requires it.
BULK_BATCH = None

# The Celery task that sends one row (clinic/tasks.py registers it under this name). Sent by
# name, so the outbox does not import the tasks that import the outbox.
SEND_NOTIFICATION_TASK = "clinic.tasks.send_notification"


def stale_claim() -> timedelta:
    """How long a row may stay "sending" before it counts as its dead worker's and goes back
    to pending (settings.OUTBOX_STALE_CLAIM_MINUTES; read per call, so tests may change it)."""
    return timedelta(minutes=settings.OUTBOX_STALE_CLAIM_MINUTES)


SWEEP_BATCH = 500

# Kinds whose cause may go away after the row was written (a session cancelled or moved):
# checked just before sending, so a message about something no longer true is cancelled
# instead of sent. Dotted paths, imported when needed: a callable(notification) -> bool.
PRECHECKS: dict[str, str] = {
    NotificationKind.REMINDER_APPOINTMENT: "treatments.reminders.reminder_still_current",
    NotificationKind.REMINDER_MAINTENANCE: "treatments.reminders.reminder_still_current",
    NotificationKind.INTAKE_REQUEST: "treatments.intake.intake_request_still_current",
}


def outside_quiet_hours(when: datetime) -> datetime:
    """The first moment at or after ``when`` that patient messages may be delivered.

    Quiet hours run from QUIET_HOURS_START to QUIET_HOURS_END, clinic time; a message due
    inside them moves to the next morning's opening.
    """
    local = timezone.localtime(when)
    opens = local.replace(hour=settings.QUIET_HOURS_END, minute=0, second=0, microsecond=0)
    if local < opens:
        return opens
    if local.hour >= settings.QUIET_HOURS_START:
        next_day = (local + timedelta(days=1)).date()
        naive = datetime.combine(next_day, datetime.min.time()).replace(hour=settings.QUIET_HOURS_END)
        return timezone.make_aware(naive, timezone.get_current_timezone())
    return when


def _check_kind(kind: str) -> None:
    # A kind outside the vocabulary would escape the outbox filter and every per-kind rule.
    if kind not in NotificationKind.values:
        raise ValueError(f"Unknown kind {kind!r}: add it to NotificationKind.")


def notification_queue(
    *,
    kind: NotificationKind,
    channel: str,
    subject: str,
    body: str,
    dedupe_key: str,
    to_address: str = "",
    recipient_user=None,
    location: Location | None = None,
    html_body: str = "",
    link: str = "",
    due_at: datetime | None = None,
    quiet_hours: bool = False,
    regarding: str = "",
    held: bool = False,
) -> Notification | None:
    """Write one outbox row unless one with the same dedupe key exists; None if it did.

    ``quiet_hours=True`` marks a patient message: it is never delivered during quiet hours.
    ``held=True`` writes it "awaiting review": nothing sends it until a manager releases it
    with ``notifications_release`` (recall letters are read by a person before they go).
    """
    _check_kind(kind)
    if channel not in Notification.Channel.values:
        raise ValueError(f"Unknown channel {channel!r}.")
    if channel != Notification.Channel.IN_APP and not to_address:
        raise ValueError("An email or SMS notification needs an address.")
    due_at = due_at or timezone.now()
    if quiet_hours:
        due_at = outside_quiet_hours(due_at)
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                kind=kind,
                channel=channel,
                subject=subject[:200],
                body=body,
                html_body=html_body,
                dedupe_key=dedupe_key[:200],
                to_address=to_address,
                recipient_user=recipient_user,
                location=location,
                link=link,
                due_at=due_at,
                quiet_hours=quiet_hours,
                regarding=regarding,
                status=Notification.Status.HELD if held else Notification.Status.PENDING,
            )
    except IntegrityError:
        return None
    if not held and due_at <= timezone.now():
        transaction.on_commit(lambda: notification_enqueue(notification.pk))
    return notification


def notifications_bulk_queue(rows: list[Notification]) -> int:
    """Write many outbox rows at once; rows whose dedupe key exists are skipped.

    Patient messages (``quiet_hours=True``) are moved out of quiet hours here, as
    ``notification_queue`` does. Nothing is enqueued: the caller (a Celery task) runs the
    outbox sweep afterwards, and the every-minute sweep would send them anyway.
    """
    for row in rows:
        _check_kind(row.kind)
        if row.channel not in Notification.Channel.values:
            raise ValueError(f"Unknown channel {row.channel!r}.")
        if row.channel != Notification.Channel.IN_APP and not row.to_address:
            raise ValueError("An email or SMS notification needs an address.")
        row.subject = row.subject[:200]
        row.dedupe_key = row.dedupe_key[:200]
        if row.quiet_hours:
            row.due_at = outside_quiet_hours(row.due_at)
    if rows:
        Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=BULK_BATCH)
    return len(rows)


# What a sweep gives for each row written by ``notifications_bulk_queue_select``; every other
# column takes the model's default (status pending, no attempts, created now).
SELECT_COLUMNS = (
    "channel",
    "to_address",
    "location_id",
    "subject",
    "body",
    "html_body",
    "dedupe_key",
    "regarding",
)
_TRUNCATED = {"subject": 200, "dedupe_key": 200}  # as notifications_bulk_queue cuts them


def notifications_bulk_queue_select(
    *,
    kind: NotificationKind,
    source: QuerySet,
    columns: dict[str, Any],
    due_at: datetime,
    quiet_hours: bool = False,
) -> int:
    """Write one outbox row per row of ``source`` in a single ``INSERT … SELECT``; rows whose
    dedupe key exists are skipped. Returns the number of rows written.

    For a sweep over many thousands of recipients whose messages are the same few texts
    (links are built at send time, ``clinic.channels.SEND_TIME_LINKS``): nothing is read into
    Python. ``columns`` maps each name of ``SELECT_COLUMNS`` to an expression over
    ``source`` (``F``, ``Case``, ``Concat``, ``Value``). The caller's rows must be email or
    SMS with an address (filter ``source``), the rules ``notifications_bulk_queue`` checks
    per row. ``kind``, ``due_at`` (moved out of quiet hours when ``quiet_hours``) and the
    model's defaults fill the other columns. Nothing is enqueued, as for the bulk writer.
    """
    _check_kind(kind)
    if sorted(columns) != sorted(SELECT_COLUMNS):
        raise ValueError(f"columns must be exactly {', '.join(SELECT_COLUMNS)}.")
    if quiet_hours:
        due_at = outside_quiet_hours(due_at)
    fields = Notification._meta
    by_name = {field.attname: field for field in fields.concrete_fields}
    values: dict[str, Any] = {
        name: Left(expression, _TRUNCATED[name]) if name in _TRUNCATED else expression
        for name, expression in columns.items()
    }
    constants = {"kind": kind.value, "due_at": due_at, "quiet_hours": quiet_hours}
    for field in fields.concrete_fields:
        if field.primary_key or field.null or field.attname in values or field.attname in constants:
            continue
        constants[field.attname] = field.get_default()
    for name, value in constants.items():
        values[name] = Value(value, output_field=by_name[name])
    # Aliased, so no name collides with a field of the source model; the SELECT's own order
    # (its aliases) decides the INSERT's column list.
    query = source.order_by().values(**{f"n_{name}": expression for name, expression in values.items()}).query
    using = router.db_for_write(Notification)
    compiler = query.get_compiler(using=using)
    select_sql, params = compiler.as_sql()
    targets = [str(by_name[alias.removeprefix("n_")].column) for _expr, _sql, alias in compiler.select]
    connection = connections[using]
    ops = connection.ops
    target_sql = ", ".join(ops.quote_name(column) for column in targets)
    suffix = ops.on_conflict_suffix_sql([by_name["dedupe_key"]], OnConflict.IGNORE, [], [])
    # The outer WHERE: SQLite needs one in INSERT … SELECT … ON CONFLICT (a parsing ambiguity).
    # Only quoted names and the compiler's own SQL are interpolated; every value is a parameter.
    sql = (
        f"{ops.insert_statement(on_conflict=OnConflict.IGNORE)} {ops.quote_name(fields.db_table)} "  # noqa: S608
        f"({target_sql}) SELECT * FROM ({select_sql}) new_rows WHERE 1 = 1 {suffix}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def notification_enqueue(notification_id: int) -> bool:
    """Hand one row to Celery. Never raises: a broker outage leaves it for the sweep."""
    try:
        celery_app.send_task(SEND_NOTIFICATION_TASK, args=[notification_id])
    except Exception as exc:  # kombu raises several types; none may fail a request
        logger.warning("Broker unavailable, notification %s left for the sweep: %s", notification_id, exc)
        return False
    return True


def _backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter: about 1, 2, 4 … minutes, capped at an hour."""
    ceiling = min(3600, 60 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def notification_send(*, notification_id: int) -> str:
    """Claim, deliver and mark one notification. Returns what happened, for logs and tests."""
    now = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, status=Notification.Status.PENDING, due_at__lte=now
    ).update(status=Notification.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return "not-claimed"
    notification = Notification.objects.get(pk=notification_id)
    if notification.quiet_hours:
        allowed = outside_quiet_hours(now)
        if allowed > now:
            # Delayed into the night (an outage, a long retry): wait for the morning.
            Notification.objects.filter(pk=notification_id).update(
                status=Notification.Status.PENDING, due_at=allowed, attempts=F("attempts") - 1
            )
            return "deferred"
    precheck = PRECHECKS.get(notification.kind)
    if precheck and not import_string(precheck)(notification):
        Notification.objects.filter(pk=notification_id).update(
            status=Notification.Status.CANCELLED, last_error="Its cause went away before it was sent."
        )
        return "cancelled"
    try:
        deliver(notification)
    except UndeliverableError as exc:
        # No retry can help (an SMS to a number that is not valid): failed now, with the reason
        # the outbox page and the patient's page show.
        Notification.objects.filter(pk=notification_id).update(
            status=Notification.Status.FAILED, last_error=str(exc)[:2000]
        )
        logger.warning("Notification %s undeliverable: %s", notification_id, exc)
        return "undeliverable"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if notification.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            Notification.objects.filter(pk=notification_id).update(
                status=Notification.Status.FAILED, last_error=error
            )
            logger.error("Notification %s failed for good: %s", notification_id, error)
            return "failed"
        Notification.objects.filter(pk=notification_id).update(
            status=Notification.Status.PENDING,
            last_error=error,
            due_at=timezone.now() + _backoff(notification.attempts),
        )
        return "retry"
    Notification.objects.filter(pk=notification_id).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return "sent"


def outbox_due_ids(*, limit: int = SWEEP_BATCH) -> list[int]:
    """Release stale claims, then list what is due and pending (oldest first)."""
    now = timezone.now()
    Notification.objects.filter(
        status=Notification.Status.SENDING, claimed_at__lt=now - stale_claim()
    ).update(status=Notification.Status.PENDING)
    return list(
        Notification.objects.filter(status=Notification.Status.PENDING, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("id", flat=True)[:limit]
    )


@transaction.atomic
def notification_retry(*, notification: Notification, actor: User | None) -> None:
    """A manager sends a failed (or cancelled) notification again."""
    if notification.status not in (Notification.Status.FAILED, Notification.Status.CANCELLED):
        raise ValueError("Only a failed or cancelled notification can be retried.")
    before = {"status": notification.status, "attempts": notification.attempts}
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.PENDING, attempts=0, due_at=timezone.now(), last_error=""
    )
    audit_record(
        actor=actor,
        action=AuditAction.NOTIFICATION_RETRY,
        obj=notification,
        before=before,
        after={"status": "pending", "attempts": 0},
    )
    transaction.on_commit(lambda: notification_enqueue(notification.pk))


# Rows that have not gone out: a sweep or a service may cancel them when their cause goes away.
UNSENT = (Notification.Status.PENDING, Notification.Status.HELD)
# A manager may also cancel a failed row, so nobody retries it by mistake.
CANCELLABLE = (*UNSENT, Notification.Status.FAILED)


def notifications_cancel(
    *,
    notification: Notification | None = None,
    ids: Iterable[int] | None = None,
    dedupe_prefix: str | None = None,
    actor: User | None,
    reason: str = "",
) -> int:
    """Cancel notifications that have not gone out, with one audit row. Returns how many.

    Name exactly one of:

    - ``notification``: the row a manager chose. Held, pending or failed; anything else
      raises ``ValueError`` so the person who pressed "cancel" hears why. Audited on the row
      (``notification.cancel``).
    - ``dedupe_prefix``: every unsent (pending or held) row of a cause that went away, e.g.
      ``reminder:appt:<session id>:`` for a cancelled session (``notification.cancel_bulk``).
    - ``ids``: the unsent rows among these that a sweep found stale
      (``notification.cancel_stale``).

    Nothing to cancel in bulk writes no audit row.
    """
    if sum(selector is not None for selector in (notification, ids, dedupe_prefix)) != 1:
        raise TypeError("Pass exactly one of notification, ids or dedupe_prefix.")
    if notification is not None:
        return _cancel_one(notification, actor=actor, reason=reason)
    unsent = Notification.objects.filter(status__in=UNSENT)
    if dedupe_prefix is not None:
        selected = unsent.filter(dedupe_key__startswith=dedupe_prefix)
        return _cancel_unsent(
            selected, AuditAction.NOTIFICATION_CANCEL_BULK, dedupe_prefix, actor=actor, reason=reason
        )
    ids = list(ids or ())
    if not ids:  # a sweep that found nothing stale: no transaction, no query
        return 0
    selected = unsent.filter(id__in=ids)
    return _cancel_unsent(selected, AuditAction.NOTIFICATION_CANCEL_STALE, reason, actor=actor, reason=reason)


@transaction.atomic
def _cancel_one(notification: Notification, *, actor: User | None, reason: str) -> int:
    cancelled = Notification.objects.filter(pk=notification.pk, status__in=CANCELLABLE).update(
        status=Notification.Status.CANCELLED, last_error=reason[:2000]
    )
    if not cancelled:
        raise ValueError("Only a held, pending or failed notification can be cancelled.")
    audit_record(
        actor=actor,
        action=AuditAction.NOTIFICATION_CANCEL,
        obj=notification,
        before={"status": notification.status},
        after={"status": "cancelled", "reason": reason},
    )
    return 1


@transaction.atomic
def _cancel_unsent(
    selected: QuerySet[Notification], action: AuditAction, about: str, *, actor: User | None, reason: str
) -> int:
    found = list(selected.values_list("id", flat=True))
    if not found:
        return 0
    count = selected.filter(id__in=found).update(
        status=Notification.Status.CANCELLED, last_error=reason[:2000]
    )
    audit_record(
        actor=actor,
        action=action,
        object_type="clinic.notification",
        object_repr=about[:200],
        after={"ids": found, "reason": reason},
    )
    return count


# --- Held notifications (reviewed by a manager before they are sent) ------------------------


@transaction.atomic
def notification_edit_held(
    *, notification: Notification, actor: User | None, subject: str, body: str
) -> Notification:
    """Change the wording of a notification still awaiting review (audited, old and new text)."""
    subject, body = subject.strip(), body.strip()
    if not subject or not body:
        raise ValueError("A message needs a subject and a text.")
    locked = Notification.objects.select_for_update().get(pk=notification.pk)
    if locked.status != Notification.Status.HELD:
        raise ValueError("Only a message awaiting review can be edited.")
    before = {"subject": locked.subject, "body": locked.body}
    locked.subject, locked.body = subject[:200], body
    locked.save(update_fields=["subject", "body"])
    audit_record(
        actor=actor,
        action=AuditAction.NOTIFICATION_EDIT,
        obj=locked,
        location=locked.location,
        before=before,
        after={"subject": locked.subject, "body": locked.body},
    )
    return locked


@transaction.atomic
def notifications_release(
    *, ids, actor: User | None, location: Location | None = None, reason: str = ""
) -> int:
    """Send held notifications: held → pending (due now, quiet hours kept), enqueued after commit.

    A conditional update, so two managers pressing "send" at once release each row once.
    Returns how many were released; rows no longer held are left as they are.
    """
    ids = list(
        Notification.objects.filter(pk__in=list(ids), status=Notification.Status.HELD).values_list(
            "pk", flat=True
        )
    )
    if not ids:
        return 0
    now = timezone.now()
    quiet_due = outside_quiet_hours(now)
    released = []
    # Two updates at most (patient messages may need to wait for the morning).
    for quiet, due in ((False, now), (True, quiet_due)):
        batch = list(
            Notification.objects.filter(
                pk__in=ids, status=Notification.Status.HELD, quiet_hours=quiet
            ).values_list("pk", flat=True)
        )
        if batch:
            Notification.objects.filter(pk__in=batch, status=Notification.Status.HELD).update(
                status=Notification.Status.PENDING, due_at=due
            )
            released += [(pk, due) for pk in batch]
    audit_record(
        actor=actor,
        action=AuditAction.NOTIFICATION_RELEASE,
        object_type="clinic.notification",
        object_repr=(reason or f"{len(released)} reviewed notification(s)")[:200],
        location=location,
        before={"status": "held"},
        after={"status": "pending", "ids": [pk for pk, _ in released]},
    )
    due_now = [pk for pk, due in released if due <= now]
    transaction.on_commit(lambda: [notification_enqueue(pk) for pk in due_now])
    return len(released)
