"""The audit trail service: every service that changes a record calls ``audit_record``.

It runs inside the caller's transaction, so the change and its audit row commit or roll
back together. Celery jobs and commands pass ``actor=None`` and are recorded as the system.

``AuditAction`` is the one vocabulary of actions, for every app (as Zulip's
``AuditLogEventType``): the foundation may not import products or treatments, and one list
gives the audit page its labels and ``audit_record`` a check. The values are what is stored
in ``AuditEvent.action``; never change one, add a member instead.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import Q

from clinic.context import client_ip_var, request_id_var
from clinic.models import AuditEvent, Location

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AuditAction(models.TextChoices):
    """Every action written to the audit trail, grouped by what it acts on."""

    # Sign-in (clinic/signals.py) and staff accounts
    AUTH_LOGIN = "auth.login", "Signed in"
    AUTH_LOGOUT = "auth.logout", "Signed out"
    AUTH_LOGIN_FAILED = "auth.login_failed", "Sign-in failed"
    AUTH_LOCKOUT = "auth.lockout", "Sign-in locked out"
    AUTH_PASSWORD_RESET = "auth.password_reset", "Password set from a reset link"
    ACCESS_REFUSED = "access.refused", "Access refused"
    # Second factor (clinic/mfa.py)
    MFA_ENROL = "mfa.enrol", "Second factor set up"
    MFA_VERIFY = "mfa.verify", "Second factor accepted"
    MFA_RECOVERY_USE = "mfa.recovery_use", "Recovery code used"
    MFA_FAILED = "mfa.failed", "Second-factor code refused"
    MFA_RECOVERY_CODES_NEW = "mfa.recovery_codes_new", "New recovery codes made"
    MFA_RESET = "mfa.reset", "Second factor reset"
    STAFF_PASSWORD_RESET_SEND = "staff.password_reset_send", "Password reset link sent"
    STAFF_CREATE = "staff.create", "Staff account created"
    STAFF_UPDATE = "staff.update", "Staff account changed"
    # Backups (manage.py backup / restore)
    BACKUP_CREATE = "backup.create", "Backup taken"
    BACKUP_RESTORE = "backup.restore", "Backup restored"
    BACKUP_RESTORE_REFUSED = "backup.restore_refused", "Restore refused"
    # The outbox
    NOTIFICATION_RETRY = "notification.retry", "Message retried"
    SENT_MAIL_VIEW = "sent_mail.view", "Kept email read (Sent mail)"
    NOTIFICATION_CANCEL = "notification.cancel", "Message cancelled"
    NOTIFICATION_CANCEL_BULK = "notification.cancel_bulk", "Messages cancelled (cause changed)"
    NOTIFICATION_CANCEL_STALE = "notification.cancel_stale", "Stale messages cancelled"
    NOTIFICATION_EDIT = "notification.edit", "Held message edited"
    NOTIFICATION_RELEASE = "notification.release", "Held messages sent"
    # Recall and reports
    RECALL_PREPARE = "recall.prepare", "Recall prepared"
    RECALL_EXPORT = "recall.export", "Recall list exported"
    REPORT_REGISTER_EXPORT = "report.register_export", "Treatment register exported"
    # Catalogue and compliance
    PRODUCT_CREATE = "product.create", "Product created"
    PRODUCT_UPDATE = "product.update", "Product changed"
    PRODUCT_CLASSIFY = "product.classify", "Product classified"
    PRODUCT_APPROVE = "product.approve", "Product approved"
    PRODUCT_APPROVAL_REVOKE = "product.approval_revoke", "Product approval revoked"
    STORAGE_UNIT_CREATE = "storage_unit.create", "Storage unit created"
    STORAGE_UNIT_UPDATE = "storage_unit.update", "Storage unit changed"
    DOCUMENT_UPLOAD = "document.upload", "Document uploaded"
    DOCUMENT_RENEW = "document.renew", "Document renewed"
    DOCUMENT_SUPERSEDE = "document.supersede", "Document superseded"
    DOCUMENT_DOWNLOAD = "document.download", "Document downloaded"
    # Stock
    LOT_RECEIVE = "lot.receive", "Lot received"
    LOT_QUARANTINE = "lot.quarantine", "Lot quarantined"
    LOT_RELEASE = "lot.release", "Lot released"
    LOT_RECALL = "lot.recall", "Lot recalled"
    STOCK_USE = "stock.use", "Stock used"
    STOCK_WASTE = "stock.waste", "Stock wasted"
    STOCK_ADJUST = "stock.adjust", "Stock count adjusted"
    STOCK_TRANSFER = "stock.transfer", "Stock transferred"
    STOCK_TRANSFER_IN = "stock.transfer_in", "Stock transferred in"
    VIAL_OPEN = "vial.open", "Vial opened"
    VIAL_DRAW = "vial.draw", "Dose drawn from vial"
    VIAL_DISCARD = "vial.discard", "Vial discarded"
    REORDER_LEVEL_SET = "reorder_level.set", "Reorder level set"
    REORDER_LEVEL_DELETE = "reorder_level.delete", "Reorder level removed"
    STOCKTAKE_START = "stocktake.start", "Stock-take started"
    STOCKTAKE_COUNT = "stocktake.count", "Stock-take counts saved"
    STOCKTAKE_ADD_LOT = "stocktake.add_lot", "Lot added to a stock-take"
    STOCKTAKE_RECOUNT = "stocktake.recount", "Stock-take lots to count again"
    STOCKTAKE_POST = "stocktake.post", "Stock-take posted"
    STOCKTAKE_CANCEL = "stocktake.cancel", "Stock-take cancelled"
    # Cold chain
    READING_RECORD = "reading.record", "Temperature recorded"
    READING_IMPORT = "reading.import", "Logger file imported"
    READING_IMPORT_REFUSED = "reading.import_refused", "Logger file refused"
    EXCURSION_OPEN = "excursion.open", "Excursion opened"
    EXCURSION_EXTEND = "excursion.extend", "Excursion extended"
    EXCURSION_BREACH = "excursion.breach", "Excursion breached the unit's rule"
    EXCURSION_REVIEW = "excursion.review", "Excursion reviewed"
    EXCURSION_CLOSE = "excursion.close", "Excursion closed"
    EXCURSION_ADDENDUM = "excursion.addendum", "Excursion addendum"
    FEED_TOKEN_CREATE = "feed_token.create", "Logger feed token created"
    FEED_TOKEN_REVOKE = "feed_token.revoke", "Logger feed token revoked"
    # Patients, plans and the schedule
    PATIENT_CREATE = "patient.create", "Patient registered"
    PATIENT_UPDATE = "patient.update", "Patient changed"
    PATIENT_VIEW = "patient.view", "Patient viewed"
    PATIENT_TIMELINE_VIEW = "patient.timeline_view", "Patient timeline viewed"
    PATIENT_REMINDERS_OPT_OUT = "patient.reminders_opt_out", "Patient opted out of reminders"
    PATIENT_EXPORT = "patient.export", "Patient's data exported (subject access)"
    PATIENT_RESTRICT = "patient.restrict", "Patient's processing restricted"
    PATIENT_RESTRICTION_LIFT = "patient.restriction_lift", "Patient's restriction lifted"
    ERASURE_REQUEST = "erasure.request", "Erasure requested (contact details erased)"
    ERASURE_HELD = "erasure.held", "Erasure held (open recall)"
    ERASURE_COMPLETE = "erasure.complete", "Erasure completed (retention lapsed)"
    PLAN_CREATE = "plan.create", "Treatment plan created"
    PLAN_STOP = "plan.stop", "Treatment plan stopped"
    PLAN_PROGRESS = "plan.progress", "Treatment plan moved on"
    PROTOCOL_UPDATE = "protocol.update", "Protocol changed"
    CONTACT_ATTEMPT_RECORD = "contact_attempt.record", "Contact attempt recorded"
    SESSION_BOOK = "session.book", "Session booked"
    SESSION_RESCHEDULE = "session.reschedule", "Session rescheduled"
    SESSION_CHECK_IN = "session.check_in", "Session checked in"
    SESSION_START = "session.start", "Session started"
    SESSION_COMPLETE = "session.complete", "Session completed"
    SESSION_CANCEL = "session.cancel", "Session cancelled"
    SESSION_NO_SHOW = "session.no_show", "Session marked no-show"
    SESSION_PATIENT_CONFIRM = "session.patient_confirm", "Session confirmed by patient"
    SESSION_PATIENT_CANCEL = "session.patient_cancel", "Session cancelled by patient"
    SESSION_PATIENT_RESCHEDULE = "session.patient_reschedule", "Patient asked for another time"
    SESSION_PATIENT_BOOK = "session.patient_book", "Session booked by patient"
    INBOUND_SMS_RECEIVED = "inbound_sms.received", "Text message received"
    INBOUND_SMS_HANDLED = "inbound_sms.handled", "Text message handled"
    WORKING_HOURS_REPLACE = "working_hours.replace", "Working hours replaced"
    CALENDAR_FEED_CREATE = "calendar_feed.create", "Calendar feed created"
    CALENDAR_FEED_REVOKE = "calendar_feed.revoke", "Calendar feed revoked"
    # Clinical records, consent and screening
    TREATMENT_RECORD_CREATE = "treatment_record.create", "Treatment record created"
    TREATMENT_RECORD_UPDATE = "treatment_record.update", "Treatment record changed"
    TREATMENT_RECORD_SIGN = "treatment_record.sign", "Treatment record signed"
    TREATMENT_RECORD_ADDENDUM = "treatment_record.addendum", "Treatment record addendum"
    TREATMENT_RECORD_VIEW = "treatment_record.view", "Treatment record viewed"
    CONSENT_TEMPLATE_PUBLISH = "consent_template.publish", "Consent form published"
    CONSENT_SIGN = "consent.sign", "Consent signed"
    CONSENT_WITHDRAW = "consent.withdraw", "Consent withdrawn"
    CONSENT_VIEW = "consent.view", "Consent viewed"
    CONSENT_VIEW_SIGNATURE = "consent.view_signature", "Consent signature viewed"
    SCREENING_RECORD = "screening.record", "Screening recorded"
    SCREENING_CONFIRM = "screening.confirm", "Screening confirmed"
    SCREENING_OVERRIDE = "screening.override", "Screening overridden"
    INTAKE_SUBMIT = "intake.submit", "Intake sent by the patient (link)"
    # Photos
    PHOTO_UPLOAD = "photo.upload", "Photo uploaded"
    PHOTO_VIEW = "photo.view", "Photo viewed"
    PHOTO_VIEW_REFUSED = "photo.view_refused", "Photo view refused"
    PHOTO_MARKETING_FLAG = "photo.marketing_flag", "Photo marked for marketing"
    PHOTO_MARKETING_UNFLAG = "photo.marketing_unflag", "Photo unmarked for marketing"
    PHOTO_RETIRE = "photo.retire", "Photo retired"


def snapshot(instance: models.Model, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """JSON-safe values of the named fields (foreign keys by id) for before/after."""
    data: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        if not isinstance(field, models.Field):
            raise TypeError(f"{name} is a relation of {instance._meta.label}, not a field to snapshot.")
        value = getattr(instance, field.attname)
        data[name] = value
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def audit_record(
    *,
    actor: User | None,
    action: AuditAction,
    obj: models.Model | None = None,
    location: Location | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> AuditEvent:
    """Write one audit row. ``action`` must be an ``AuditAction``; anything else raises
    ``ValueError`` (a typo would file the row where no filter finds it)."""
    action = AuditAction(action)
    if obj is not None:
        object_type = obj._meta.label_lower
        object_id = str(obj.pk)
        object_repr = str(obj)[:200]
        if location is None and isinstance(obj, Location):
            location = obj
        elif location is None and hasattr(obj, "location_id"):
            location = getattr(obj, "location", None)
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        location=location,
        before=before,
        after=after,
        request_id=request_id_var.get(),
        ip_address=client_ip_var.get(),
    )


REDACTED = "[erased]"


def audit_redact(*, objects: dict[str, list[int]]) -> int:
    """Redact what audit rows say about erased records, keeping the fact of each event.

    ``objects`` maps an object type (``"treatments.patient"``) to ids. Each row about one of
    them keeps its action, actor, time and object id; its description becomes "[erased]"
    and its before/after values ``{"erased": true}``. The only change the append-only
    trigger allows, and only with ``clinic.audit_redaction`` set for this transaction.
    """
    match = Q(pk__in=[])
    for object_type, ids in objects.items():
        if ids:
            match |= Q(object_type=object_type, object_id__in=[str(i) for i in ids])
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL clinic.audit_redaction = 'on'")
        rows = AuditEvent.objects.filter(match)
        count = rows.update(object_repr=REDACTED)
        rows.exclude(before__isnull=True).update(before={"erased": True})
        rows.exclude(after__isnull=True).update(after={"erased": True})
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL clinic.audit_redaction = 'off'")
    return count
