"""Patient reminders: maintenance sessions coming due and booked appointments.

Each sweep is set-based: one query reads everything due, the rows are written with one
``bulk_create(ignore_conflicts=True)`` keyed by deterministic dedupe keys, so the query
count does not grow with the number of patients and a second run writes nothing new.

Patient messages carry no clinical detail (time, place and clinic contact only), go out
on the patient's chosen channel, respect quiet hours and end with an opt-out link.

Dedupe keys (parsed back by the stale-reminder sweep and the pre-send check):
- ``reminder:plan:<plan id>:<next due date>:<before|due>``
- ``reminder:appt:<session id>:<start, UTC, %Y%m%dT%H%M%SZ>`` — a moved session has a new
  start, so it gets a new reminder and the old one is cancelled.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Case, CharField, F, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, Concat, Trim
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from clinic.audit import AuditAction, audit_record
from clinic.mail import render_message
from clinic.models import Location, Notification
from clinic.notifications import (
    NotificationKind,
    absolute_url,
    notifications_bulk_queue,
    notifications_bulk_queue_select,
    notifications_cancel,
    outside_quiet_hours,
)
from clinic.phones import phone_national
from treatments.models import Patient, Session, SessionStatus, TreatmentPlan

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PATIENT_KINDS = (NotificationKind.REMINDER_APPOINTMENT, NotificationKind.REMINDER_MAINTENANCE)

# A daily sweep missed (worker down) is caught up for this many days after a due date.
DUE_CATCH_UP_DAYS = 3
# Appointment reminders are written this long before they are due; the sweep runs more
# often than that, so none is missed, and the outbox sends each one at its time.
APPOINTMENT_WRITE_AHEAD = dt.timedelta(hours=1)
# A reminder that could only go out this close to the session (quiet hours, a late
# booking) is not worth sending.
APPOINTMENT_MIN_NOTICE = dt.timedelta(hours=1)

OPT_OUT_SALT = "treatments.reminders.opt-out"
# In a maintenance reminder's stored body: becomes the patient's link when the message is sent
# (clinic.channels.SEND_TIME_LINKS → treatments.links.maintenance_url), so the sweep writes
# one text for every patient of a location and day, and signs nothing.
PATIENT_LINK_PLACEHOLDER = "PATIENTLINKPLACEHOLDER"
# The maintenance reminder's booking link (treatments.links.book_url), also built at send time.
BOOK_PLACEHOLDER = "BOOKURLPLACEHOLDER"
_URL_PLACEHOLDER = "OPTOUTURLPLACEHOLDER"
_STAMP = "%Y%m%dT%H%M%SZ"


# --- Keys ---------------------------------------------------------------------------------


def regarding_patient(patient_id: int) -> str:
    return f"treatments.patient:{patient_id}"


def appointment_key(session_id: int, starts_at: dt.datetime) -> str:
    return f"reminder:appt:{session_id}:{starts_at.astimezone(dt.UTC).strftime(_STAMP)}"


def maintenance_key(plan_id: int, due_on: dt.date, stage: str) -> str:
    return f"reminder:plan:{plan_id}:{due_on.isoformat()}:{stage}"


def parse_appointment_key(key: str) -> tuple[int, dt.datetime] | None:
    try:
        _, _, session_id, stamp = key.split(":")
        return int(session_id), dt.datetime.strptime(stamp, _STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def parse_maintenance_key(key: str) -> tuple[int, dt.date] | None:
    """(plan id, due date) of a maintenance reminder's key (also for its booking link, built at send)."""
    try:
        _, _, plan_id, due_on, _stage = key.split(":")
        return int(plan_id), dt.date.fromisoformat(due_on)
    except ValueError:
        return None


# --- Opt-out ------------------------------------------------------------------------------


def opt_out_token(patient_id: int) -> str:
    """A signed token naming the patient; it cannot be forged or pointed at someone else."""
    return signing.dumps(patient_id, salt=OPT_OUT_SALT)


def opt_out_patient_id(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=OPT_OUT_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def patient_id_from_regarding(regarding: str) -> int | None:
    """The patient a message is about (its ``regarding``), or None."""
    prefix, _, patient_id = regarding.partition(":")
    if prefix != "treatments.patient" or not patient_id.isdigit():
        return None
    return int(patient_id)


def opt_out_url(patient_id: int) -> str:
    return absolute_url(reverse("clinic:reminder_opt_out", args=[opt_out_token(patient_id)]))


@transaction.atomic
def patient_reminders_opt_out(
    *, patient_id: int, actor: User | None = None, via: str = "opt-out link"
) -> Patient | None:
    """The patient asks for no more reminders: record it, audit it, cancel what is pending.

    Idempotent: a second request changes nothing and writes no second audit row.
    """
    patient = Patient.objects.select_for_update().select_related("location").filter(pk=patient_id).first()
    if patient is None:
        return None
    if not patient.reminder_opt_in:
        return patient
    Patient.objects.filter(pk=patient.pk).update(reminder_opt_in=False)
    patient.reminder_opt_in = False
    cancelled = patient_messages_cancel(patient_id=patient.pk, reason="The patient opted out of reminders.")
    audit_record(
        actor=actor,
        action=AuditAction.PATIENT_REMINDERS_OPT_OUT,
        obj=patient,
        location=patient.location,
        before={"reminder_opt_in": True},
        after={"reminder_opt_in": False, "via": via, "cancelled_notifications": cancelled},
    )
    return patient


def patient_messages_cancel(*, patient_id: int, reason: str) -> list[int]:
    """Cancel the patient's messages still pending, with ``reason``; their ids (for the
    caller's audit row, written in the caller's transaction)."""
    cancelled = list(
        Notification.objects.filter(
            regarding=regarding_patient(patient_id), status=Notification.Status.PENDING
        ).values_list("id", flat=True)
    )
    if cancelled:
        Notification.objects.filter(id__in=cancelled, status=Notification.Status.PENDING).update(
            status=Notification.Status.CANCELLED, last_error=reason
        )
    return cancelled


def patient_reminders(patient: Patient) -> QuerySet[Notification]:
    """The reminders written for a patient, newest first (for the patient's page)."""
    return Notification.objects.filter(regarding=regarding_patient(patient.pk)).order_by("-created_at", "-id")


# --- Message building ---------------------------------------------------------------------


def _contact(row: dict, prefix: str = "location__") -> dict:
    contact = {name: row[f"{prefix}{name}"] for name in ("name", "address", "phone", "email")}
    contact["phone"] = phone_national(contact["phone"] or "")  # as the patient dials it
    return contact


class _Renderer:
    """Renders each distinct message once (per location and time), then fills in the link.

    Only the opt-out link differs between patients of one location on one day, so a sweep
    over thousands of patients renders a handful of templates.
    """

    def __init__(self, template: str):
        self.template = template
        self.cache: dict[tuple, tuple[str, str, str]] = {}

    def email(self, cache_key: tuple, context: dict, opt_out: str) -> tuple[str, str, str]:
        if cache_key not in self.cache:
            message = render_message(self.template, {**context, "opt_out_url": _URL_PLACEHOLDER})
            self.cache[cache_key] = (message.subject, message.text, message.html)
        subject, text, html = self.cache[cache_key]
        return subject, text.replace(_URL_PLACEHOLDER, opt_out), html.replace(_URL_PLACEHOLDER, opt_out)


def _address(row: dict) -> str:
    if row["patient__reminder_channel"] == Notification.Channel.EMAIL:
        return (row["patient__email"] or "").strip()
    return (row["patient__phone"] or "").strip()


def _patient_row(
    *,
    row: dict,
    kind: NotificationKind,
    dedupe_key: str,
    due_at: dt.datetime,
    renderer: _Renderer,
    cache_key: tuple,
    context: dict,
    sms_text: str,
) -> Notification | None:
    address = _address(row)
    if not address:
        return None
    opt_out = opt_out_url(row["patient_id"])
    if row["patient__reminder_channel"] == Notification.Channel.EMAIL:
        subject, text, html = renderer.email(cache_key, context, opt_out)
        channel = Notification.Channel.EMAIL
    else:
        subject = "Reminder"
        text, html = f"{sms_text} Stop reminders: {opt_out}", ""
        channel = Notification.Channel.SMS
    return Notification(
        kind=kind,
        channel=channel,
        to_address=address,
        location_id=row["location_id"],
        subject=subject,
        body=text,
        html_body=html,
        dedupe_key=dedupe_key,
        due_at=due_at,
        quiet_hours=True,
        regarding=regarding_patient(row["patient_id"]),
    )


def _phone_or_email(contact: dict) -> str:
    return contact["phone"] or contact["email"] or "the clinic"


_PATIENT_FIELDS = ("patient_id", "patient__reminder_channel", "patient__email", "patient__phone")
_PLACE_FIELDS = ("name", "address", "phone", "email")


# --- Maintenance reminders ------------------------------------------------------------------


# Maintenance messages are the same text for every patient of one location due on one day
# (the link is built at send time: PATIENT_LINK_PLACEHOLDER, clinic.channels.SEND_TIME_LINKS),
# so the sweep renders a handful of messages and writes every row in one INSERT … SELECT.
MaintenanceMessage = tuple[str, str, str]  # subject, text, html


def maintenance_messages(
    *, today: dt.date, locations: list[dict]
) -> dict[tuple[int, str, dt.date | None, str], MaintenanceMessage]:
    """Every maintenance message a sweep on ``today`` may write, keyed by
    (location id, stage, due date or None for "due", channel); ``locations`` are
    ``Location.objects.values("pk", "name", "address", "phone", "email")`` rows."""
    days_before = settings.MAINTENANCE_REMINDER_DAYS_BEFORE
    cases: list[tuple[str, dt.date | None]] = [("due", None)]
    cases += [("before", today + dt.timedelta(days=n)) for n in range(1, days_before + 1)]
    messages: dict[tuple[int, str, dt.date | None, str], MaintenanceMessage] = {}
    email, sms = Notification.Channel.EMAIL, Notification.Channel.SMS
    for place in locations:
        contact = _contact(place, prefix="")
        name, call = contact["name"], _phone_or_email(contact)
        for stage, due_on in cases:
            context = {"location": contact, "due_on": due_on or today, "stage": stage}
            links = {"opt_out_url": PATIENT_LINK_PLACEHOLDER, "book_url": BOOK_PLACEHOLDER}
            mail = render_message("maintenance_reminder", {**context, **links})
            messages[(place["pk"], stage, due_on, email)] = (mail.subject, mail.text, mail.html)
            if due_on is None:
                text = f"{settings.CLINIC_NAME}: it is time to book your next appointment at {name}."
            else:
                when = date_format(due_on, "j F")  # no weekday: two SMS segments hold two links
                text = f"{settings.CLINIC_NAME}: your next appointment at {name} is due from {when}."
            # Two links, the place and the phone in two SMS segments (320 characters).
            text += f" Call {call} to book. Online: {BOOK_PLACEHOLDER} Stop: {PATIENT_LINK_PLACEHOLDER}"
            messages[(place["pk"], stage, due_on, sms)] = ("Reminder", text, "")
    return messages


def due_plans(today: dt.date) -> QuerySet[TreatmentPlan]:
    """The plans a maintenance sweep on ``today`` reminds: active, due within
    MAINTENANCE_REMINDER_DAYS_BEFORE days (or up to DUE_CATCH_UP_DAYS ago), nothing booked,
    the patient agreeing to reminders and not restricted."""
    return (
        TreatmentPlan.objects.active()
        .with_upcoming_booking()
        .filter(
            has_booking=False,
            patient__reminder_opt_in=True,
            patient__restricted_at__isnull=True,
            next_due_on__gte=today - dt.timedelta(days=DUE_CATCH_UP_DAYS),
            next_due_on__lte=today + dt.timedelta(days=settings.MAINTENANCE_REMINDER_DAYS_BEFORE),
        )
    )


def maintenance_reminders_sweep(*, now: dt.datetime | None = None) -> int:
    """Write the maintenance-session reminders due today. Returns the rows written.

    A plan gets one reminder MAINTENANCE_REMINDER_DAYS_BEFORE days before its next session
    is due and one on the due date, each only while the plan is active, the patient
    agrees to reminders and nothing is booked for the plan. A missed day is caught up.
    Two statements whatever the number of patients: the locations, then one INSERT … SELECT.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    locations = list(Location.objects.values("pk", *_PLACE_FIELDS))
    if not locations:
        return 0
    messages = maintenance_messages(today=today, locations=locations)
    by_email = Q(patient__reminder_channel=Notification.Channel.EMAIL)
    is_due = Q(next_due_on__lte=today)
    subject: list[When] = []
    body: list[When] = []
    html: list[When] = []
    for (location_id, stage, due_on, channel), (m_subject, m_text, m_html) in messages.items():
        when = Q(patient__location_id=location_id) & (is_due if stage == "due" else Q(next_due_on=due_on))
        if channel == Notification.Channel.EMAIL:
            subject.append(When(by_email & when, then=Value(m_subject)))
            html.append(When(by_email & when, then=Value(m_html)))
            body.insert(0, When(by_email & when, then=Value(m_text)))  # e-mail first, then SMS
        else:
            body.append(When(when, then=Value(m_text)))
    # The key's date and stage from the same few days (portable: no date-to-text cast).
    first_day = today - dt.timedelta(days=DUE_CATCH_UP_DAYS)
    span = DUE_CATCH_UP_DAYS + 1 + settings.MAINTENANCE_REMINDER_DAYS_BEFORE
    days = [first_day + dt.timedelta(days=n) for n in range(span)]
    key_tail = Case(
        *(
            When(next_due_on=d, then=Value(f":{d.isoformat()}:{'due' if d <= today else 'before'}"))
            for d in days
        ),
        output_field=CharField(),
    )
    address = Case(
        When(by_email, then=Trim("patient__email")), default=Trim("patient__phone"), output_field=CharField()
    )
    return notifications_bulk_queue_select(
        kind=NotificationKind.REMINDER_MAINTENANCE,
        source=due_plans(today).annotate(reminder_address=address).exclude(reminder_address=""),
        columns={
            "channel": Case(
                When(by_email, then=Value(Notification.Channel.EMAIL.value)),
                default=Value(Notification.Channel.SMS.value),
                output_field=CharField(),
            ),
            "to_address": F("reminder_address"),
            "location_id": F("patient__location_id"),
            "subject": Case(*subject, default=Value("Reminder"), output_field=CharField()),
            "body": Case(*body, output_field=TextField()),
            "html_body": Case(*html, default=Value(""), output_field=TextField()),
            "dedupe_key": Concat(Value("reminder:plan:"), Cast("pk", CharField()), key_tail),
            "regarding": Concat(Value("treatments.patient:"), Cast("patient_id", CharField())),
        },
        due_at=now,
        quiet_hours=True,
    )


# --- Appointment reminders ------------------------------------------------------------------


def appointment_reminders_sweep(*, now: dt.datetime | None = None) -> int:
    """Write reminders for booked sessions starting within APPOINTMENT_REMINDER_HOURS (plus
    the write-ahead), each due that many hours before its start. Returns the rows offered."""
    now = now or timezone.now()
    lead = dt.timedelta(hours=settings.APPOINTMENT_REMINDER_HOURS)
    sessions = Session.objects.filter(
        status=SessionStatus.BOOKED,
        starts_at__gt=now + APPOINTMENT_MIN_NOTICE,
        starts_at__lte=now + lead + APPOINTMENT_WRITE_AHEAD,
        patient__reminder_opt_in=True,
        patient__restricted_at__isnull=True,
    ).values("pk", "starts_at", "location_id", *_PATIENT_FIELDS, *(f"location__{f}" for f in _PLACE_FIELDS))
    renderer = _Renderer("appointment_reminder")
    rows: list[Notification] = []
    for session in sessions.iterator(chunk_size=5000):
        starts_at: dt.datetime = session["starts_at"]
        due_at = outside_quiet_hours(max(starts_at - lead, now))
        if due_at > starts_at - APPOINTMENT_MIN_NOTICE:
            continue
        local = timezone.localtime(starts_at)
        contact = _contact(session)
        sms = (
            f"{settings.CLINIC_NAME}: reminder of your appointment at {contact['name']} on "
            f"{date_format(local.date(), 'D j M')} at {local:%H:%M}. "
            f"To change it call {_phone_or_email(contact)}."
            + (" Reply C to confirm." if settings.SMS_INBOUND_SECRET else "")
        )
        row = _patient_row(
            row=session,
            kind=NotificationKind.REMINDER_APPOINTMENT,
            dedupe_key=appointment_key(session["pk"], starts_at),
            due_at=due_at,
            renderer=renderer,
            cache_key=(session["location_id"], starts_at),
            context={"location": contact, "starts_at": local, "respond_url": "RESPONDURLPLACEHOLDER"},
            sms_text=sms,
        )
        if row is not None:
            rows.append(row)
    written = notifications_bulk_queue(rows)
    stale_reminders_cancel()
    return written


# --- Causes that went away -----------------------------------------------------------------


def _stale_ids(pending: list[tuple[int, str, str]]) -> list[int]:
    appointments: dict[int, tuple[int, dt.datetime]] = {}
    maintenance: dict[int, tuple[int, dt.date]] = {}
    stale: list[int] = []
    for pk, kind, key in pending:
        if kind == NotificationKind.REMINDER_APPOINTMENT:
            appointment = parse_appointment_key(key)
            if appointment is not None:
                appointments[pk] = appointment
        else:
            plan_due = parse_maintenance_key(key)
            if plan_due is not None:
                maintenance[pk] = plan_due
    if appointments:
        sessions = {
            pk: (status, starts_at, opted_in and restricted_at is None)
            for pk, status, starts_at, opted_in, restricted_at in Session.objects.filter(
                pk__in={sid for sid, _ in appointments.values()}
            ).values_list("pk", "status", "starts_at", "patient__reminder_opt_in", "patient__restricted_at")
        }
        for pk, (session_id, starts_at) in appointments.items():
            current = sessions.get(session_id)
            if (
                current is None
                or current[0] != SessionStatus.BOOKED
                or current[1].replace(microsecond=0) != starts_at  # the key keeps whole seconds
                or not current[2]
            ):
                stale.append(pk)
    if maintenance:
        plans = {
            pk: (status, due_on, booked, opted_in and restricted_at is None)
            for pk, status, due_on, booked, opted_in, restricted_at in TreatmentPlan.objects.filter(
                pk__in={pid for pid, _ in maintenance.values()}
            )
            .with_upcoming_booking()
            .values_list(
                "pk",
                "status",
                "next_due_on",
                "has_booking",
                "patient__reminder_opt_in",
                "patient__restricted_at",
            )
        }
        for pk, (plan_id, due_on) in maintenance.items():
            plan_now = plans.get(plan_id)
            if (
                plan_now is None
                or plan_now[0] != TreatmentPlan.Status.ACTIVE
                or plan_now[1] != due_on
                or plan_now[2]
                or not plan_now[3]
            ):
                stale.append(pk)
    return stale


def stale_reminders_cancel() -> int:
    """Cancel pending patient reminders whose cause went away: the session was cancelled,
    moved or is no longer booked; the plan was booked, stopped or moved on; the patient
    opted out or their processing was restricted. Set-based: a fixed number of queries
    however many rows are pending."""
    pending = list(
        Notification.objects.filter(kind__in=PATIENT_KINDS, status=Notification.Status.PENDING).values_list(
            "pk", "kind", "dedupe_key"
        )
    )
    return notifications_cancel(
        ids=_stale_ids(pending),
        actor=None,
        reason="Its cause went away (session moved or cancelled, plan booked).",
    )


def appointment_reminders_cancel(*, session_id: int, actor: User | None = None, reason: str = "") -> int:
    """Cancel a session's pending reminders at once (for ``session_cancel`` and
    ``session_reschedule``; the sweep and the pre-send check do it anyway, later)."""
    return notifications_cancel(
        dedupe_prefix=f"reminder:appt:{session_id}:", actor=actor, reason=reason or "The session changed."
    )


def maintenance_reminders_cancel(*, plan_id: int, actor: User | None = None, reason: str = "") -> int:
    """Cancel a plan's pending reminders at once (for ``plan_stop`` and booking)."""
    return notifications_cancel(
        dedupe_prefix=f"reminder:plan:{plan_id}:", actor=actor, reason=reason or "The plan changed."
    )


def reminder_still_current(notification: Notification) -> bool:
    """Checked by the outbox just before sending a patient reminder (closes the gap
    between a session being cancelled or moved and the next stale-reminder sweep)."""
    return not _stale_ids([(notification.pk, notification.kind, notification.dedupe_key)])
