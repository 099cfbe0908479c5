"""Patients, rooms, working hours, sessions (the booking), protocol templates and plans.

A ``Session`` is one booked visit; later issues hang the treatment record, consent,
screening and photos off it. Front-desk data (contact, bookings, plan schedule) lives
here; clinical data lives in models gated by ``treatments.view_clinical_record``.
"""

from __future__ import annotations

from treatments.models.clinical import (
    EVIDENCE_DISCLOSURE,
    SCREENING_DETAILS_MAX_LENGTH,
    SCREENING_QUESTIONS,
    ConsentTemplate,
    ConsentWithdrawal,
    IntakeSubmission,
    PatientConsent,
    Scope,
    Screening,
)
from treatments.models.common import ReminderChannel, TreatmentType, phone_digits, search_key
from treatments.models.inbound import InboundMessage
from treatments.models.patients import Patient, PatientQuerySet, parse_date_of_birth
from treatments.models.plans import (
    INDUCTION_GRACE_DAYS,
    CalendarFeed,
    ContactAttempt,
    PlanPhase,
    PlanProgress,
    ProtocolTemplate,
    TreatmentPlan,
)
from treatments.models.records import (
    CHANNEL_OPENING,
    Addendum,
    AdverseEvent,
    Anaesthesia,
    Area,
    CombinedProcedure,
    InjectionPoint,
    LineSource,
    MapView,
    ProductLine,
    Route,
    Severity,
    TreatmentRecord,
)
from treatments.models.rights import ErasureRequest
from treatments.models.sessions import (
    OCCUPYING,
    STATUS_TONES,
    UPCOMING,
    Room,
    Session,
    SessionChange,
    SessionStatus,
    WorkingHours,
    local_midnight,
)

__all__ = [
    "CHANNEL_OPENING",
    "EVIDENCE_DISCLOSURE",
    "INDUCTION_GRACE_DAYS",
    "OCCUPYING",
    "SCREENING_DETAILS_MAX_LENGTH",
    "SCREENING_QUESTIONS",
    "STATUS_TONES",
    "UPCOMING",
    "Addendum",
    "AdverseEvent",
    "Anaesthesia",
    "Area",
    "CalendarFeed",
    "CombinedProcedure",
    "ConsentTemplate",
    "ConsentWithdrawal",
    "ContactAttempt",
    "ErasureRequest",
    "InboundMessage",
    "InjectionPoint",
    "IntakeSubmission",
    "LineSource",
    "MapView",
    "Patient",
    "PatientConsent",
    "PatientQuerySet",
    "PlanPhase",
    "PlanProgress",
    "ProductLine",
    "ProtocolTemplate",
    "ReminderChannel",
    "Room",
    "Route",
    "Scope",
    "Screening",
    "Session",
    "SessionChange",
    "SessionStatus",
    "Severity",
    "TreatmentPlan",
    "TreatmentRecord",
    "TreatmentType",
    "WorkingHours",
    "local_midnight",
    "parse_date_of_birth",
    "phone_digits",
    "search_key",
]
