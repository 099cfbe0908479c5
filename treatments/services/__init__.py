"""Every write of the treatments app: ``<entity>_<action>``, keyword-only, atomic, audited."""

from __future__ import annotations

from treatments.services.clinical import (
    consent_sign,
    consent_template_publish,
    consent_withdraw,
    latest_screening,
    screening_confirm,
    screening_override,
    screening_record,
)
from treatments.services.patients import DuplicatePatientError, patient_create, patient_update
from treatments.services.plans import (
    contact_attempt_record,
    plan_create,
    plan_stop,
    protocol_template_update,
)
from treatments.services.records import (
    AdverseEventInput,
    LineCheck,
    LineInput,
    RecordCheck,
    SaveResult,
    treatment_record_addendum,
    treatment_record_check,
    treatment_record_save,
    treatment_record_sign,
)
from treatments.services.schedule import (
    calendar_feed_create,
    calendar_feed_revoke,
    working_hours_replace,
)
from treatments.services.sessions import (
    session_book,
    session_cancel,
    session_check_in,
    session_complete,
    session_no_show,
    session_reschedule,
    session_start,
)

__all__ = [
    "AdverseEventInput",
    "DuplicatePatientError",
    "LineCheck",
    "LineInput",
    "RecordCheck",
    "SaveResult",
    "calendar_feed_create",
    "calendar_feed_revoke",
    "consent_sign",
    "consent_template_publish",
    "consent_withdraw",
    "contact_attempt_record",
    "latest_screening",
    "patient_create",
    "patient_update",
    "plan_create",
    "plan_stop",
    "protocol_template_update",
    "screening_confirm",
    "screening_override",
    "screening_record",
    "session_book",
    "session_cancel",
    "session_check_in",
    "session_complete",
    "session_no_show",
    "session_reschedule",
    "session_start",
    "treatment_record_addendum",
    "treatment_record_check",
    "treatment_record_save",
    "treatment_record_sign",
    "working_hours_replace",
]
