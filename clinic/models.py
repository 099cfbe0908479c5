"""Clinic-wide models: sites, staff, the audit trail, the outbox and the worker heartbeat."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class Location(models.Model):
    """One physical site of the clinic. Patients, sessions and storage units belong to one."""

    name = models.CharField(max_length=120, unique=True)
    code = models.SlugField(max_length=20, unique=True, help_text="Short code used on labels.")
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            # Reports are read per location: the manager dashboard, usage, waste, valuation,
            # cold-chain and treatment-register reports, their exports and recall look-ups.
            ("view_reports", "Can view manager reports and exports for their locations"),
        ]

    def __str__(self) -> str:
        return self.name


class StaffProfile(models.Model):
    """What the clinic knows about a staff user beyond auth: the sites they work at."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    locations = models.ManyToManyField(Location, related_name="staff", blank=True)
    job_title = models.CharField(max_length=80, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    registration_number = models.CharField(
        max_length=40, blank=True, help_text="Professional registration (GMC, NMC, GDC…)."
    )

    class Meta:
        permissions = [
            ("manage_staff", "Can manage staff accounts, roles and locations"),
            ("view_own_alerts", "Can see their own alerts in the site"),
        ]

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


class AuditEventQuerySet(models.QuerySet):
    def for_object(self, obj: models.Model) -> AuditEventQuerySet:
        return self.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))


class AuditEvent(models.Model):
    """One append-only row per change (or sensitive read), written by the service that acts.

    Never updated or deleted: the model refuses it, and on PostgreSQL a trigger does too.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for the system (Celery jobs, management commands).",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["actor", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


class Notification(models.Model):
    """An outbox row: something to send, written in the same transaction as its cause.

    The worker claims a row with a conditional update, so two workers never send it twice;
    a periodic sweep enqueues whatever is due and still pending.
    """

    class Status(models.TextChoices):
        # Prepared but waiting for a manager to review it (e.g. recall letters to patients):
        # never picked by the sweep or a worker until released to pending.
        HELD = "held", "Awaiting review"
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        IN_APP = "in_app", "In the site"

    kind = models.CharField(max_length=60, db_index=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    to_address = models.CharField(max_length=254, blank=True)
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    html_body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True, help_text="Where in the site it points.")
    regarding = models.CharField(
        max_length=80,
        blank=True,
        help_text="The record it is about, e.g. treatments.patient:42 (lists a patient's reminders).",
    )
    quiet_hours = models.BooleanField(
        default=False, help_text="A patient message: never delivered during the clinic's quiet hours."
    )
    dedupe_key = models.CharField(max_length=200, unique=True)
    due_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["recipient_user", "channel", "-created_at"]),
            models.Index(fields=["regarding", "-created_at"], name="notification_regarding_idx"),
            models.Index(fields=["kind", "status"], name="notification_kind_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.to_address or self.recipient_user} ({self.status})"


class AlertMark(models.Model):
    """Something already alerted (e.g. "lot_expiry:12:2026-12-31:7"), so it is never alerted twice.

    Sweeps that fold many causes into one digest cannot rely on the digest's dedupe key
    alone: the mark records each cause, and a later digest leaves marked causes out.
    """

    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.key


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the heartbeat task; read by /healthz."""

    name = models.CharField(max_length=60, unique=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} {self.last_seen:%Y-%m-%d %H:%M:%S}"


class SentMail(models.Model):
    """An email kept in the site instead of sent (``clinic.mailbox.EmailBackend``, the demo's).

    ``make run`` has no mail server: every message lands here and managers read it under
    "Sent mail", links and all. Holds patient data like the outbox does.
    """

    message_id = models.CharField(max_length=300, blank=True, db_index=True)
    from_email = models.CharField(max_length=300)
    to = models.TextField(help_text="Recipients (To, Cc, Bcc), one a line.")
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        verbose_name = "sent mail"
        verbose_name_plural = "sent mail"

    def __str__(self) -> str:
        return f"{self.subject} → {self.recipients_display}"

    @property
    def recipients(self) -> list[str]:
        return [line for line in self.to.splitlines() if line]

    @property
    def recipients_display(self) -> str:
        return ", ".join(self.recipients)
