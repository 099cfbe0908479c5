"""Everything the site sends: the outbox and the staff alerts written to it.

- ``kinds``: ``NotificationKind``, what each row is about (the stored ``kind``).
- ``outbox``: write rows (one, or many for a sweep), hand them to Celery, send, retry,
  cancel, review held rows, quiet hours.
- ``staff``: who to alert at a location, the alert rows for them, alert marks.

Import from here (``from clinic.notifications import notification_queue``); the modules
inside are the package's own business.
"""

from __future__ import annotations

from clinic.notifications.kinds import NotificationKind
from clinic.notifications.outbox import (
    SEND_NOTIFICATION_TASK,
    notification_edit_held,
    notification_enqueue,
    notification_queue,
    notification_retry,
    notification_send,
    notifications_bulk_queue,
    notifications_bulk_queue_select,
    notifications_cancel,
    notifications_release,
    outbox_due_ids,
    outside_quiet_hours,
    stale_claim,
)
from clinic.notifications.staff import (
    Recipient,
    absolute_url,
    alert_marks_missing,
    alert_marks_set,
    digest_key,
    safe_reverse,
    staff_alert_rows,
    staff_recipients,
)

__all__ = [
    "SEND_NOTIFICATION_TASK",
    "NotificationKind",
    "Recipient",
    "absolute_url",
    "alert_marks_missing",
    "alert_marks_set",
    "digest_key",
    "notification_edit_held",
    "notification_enqueue",
    "notification_queue",
    "notification_retry",
    "notification_send",
    "notifications_bulk_queue",
    "notifications_bulk_queue_select",
    "notifications_cancel",
    "notifications_release",
    "outbox_due_ids",
    "outside_quiet_hours",
    "safe_reverse",
    "staff_alert_rows",
    "staff_recipients",
    "stale_claim",
]
