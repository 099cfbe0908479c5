from __future__ import annotations

from django.urls import path

from treatments.rights import views as rights
from treatments.views import (
    book,
    calendar,
    clinical,
    feeds,
    inbound,
    manage,
    patients,
    plans,
    records,
    respond,
    sessions,
)
from treatments.views import intake as intake_views

app_name = "treatments"

urlpatterns = [
    path("patients/", patients.patient_list, name="patient_list"),
    path("patients/search.json", patients.patient_search, name="patient_search"),
    path("patients/new/", patients.patient_create, name="patient_create"),
    path("patients/<int:pk>/", patients.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", patients.patient_edit, name="patient_edit"),
    path("patients/<int:pk>/plans/new/", plans.plan_create, name="plan_create"),
    path("patients/<int:pk>/data-rights/", rights.patient_rights, name="patient_rights"),
    path("patients/<int:pk>/data-rights/export/", rights.patient_export, name="patient_export"),
    path("patients/<int:pk>/data-rights/erasure/", rights.patient_erasure, name="patient_erasure"),
    path(
        "patients/<int:pk>/data-rights/restriction/", rights.patient_restriction, name="patient_restriction"
    ),
    path("calendar/", calendar.calendar_day, name="calendar_day"),
    path("calendar/week/", calendar.calendar_week, name="calendar_week"),
    path("today/", calendar.today, name="today"),
    path("sessions/new/", sessions.session_book, name="session_book"),
    path("r/<str:token>/", respond.session_respond, name="session_respond"),
    path("b/<str:token>/", book.plan_book, name="plan_book"),
    path("sms/inbound/", inbound.sms_inbound, name="sms_inbound"),
    path("inbox/", inbound.inbox, name="inbox"),
    path("inbox/<int:pk>/handled/", inbound.inbox_handle, name="inbox_handle"),
    path("sessions/<int:pk>/", sessions.session_detail, name="session_detail"),
    path("sessions/<int:pk>/reschedule/", sessions.session_reschedule, name="session_reschedule"),
    path("sessions/<int:pk>/check-in/", sessions.session_check_in, name="session_check_in"),
    path("sessions/<int:pk>/start/", sessions.session_start, name="session_start"),
    path("sessions/<int:pk>/complete/", sessions.session_complete, name="session_complete"),
    path("sessions/<int:pk>/cancel/", sessions.session_cancel, name="session_cancel"),
    path("sessions/<int:pk>/no-show/", sessions.session_no_show, name="session_no_show"),
    path("plans/<int:pk>/", plans.plan_detail, name="plan_detail"),
    path("plans/<int:pk>/stop/", plans.plan_stop, name="plan_stop"),
    path("plans/<int:pk>/contact/", plans.contact_attempt_record, name="contact_attempt_record"),
    path("due/", plans.due_list, name="due_list"),
    path("protocols/", manage.protocol_list, name="protocol_list"),
    path("protocols/<int:pk>/edit/", manage.protocol_edit, name="protocol_edit"),
    path("working-hours/", manage.working_hours_list, name="working_hours_list"),
    path(
        "working-hours/<int:location_pk>/<int:user_pk>/", manage.working_hours_edit, name="working_hours_edit"
    ),
    path("calendar-feed/", feeds.calendar_feed, name="calendar_feed"),
    path("calendar-feed/revoke/", feeds.calendar_feed_revoke, name="calendar_feed_revoke"),
    path("ical/<int:feed_id>/<str:secret>.ics", feeds.ical_feed, name="ical_feed"),
    # consent and screening (clinical)
    path("consent-templates/", clinical.consent_template_list, name="consent_template_list"),
    path("consent-templates/new/", clinical.consent_template_publish, name="consent_template_publish"),
    path("patients/<int:pk>/consents/new/", clinical.consent_sign, name="consent_sign"),
    path("consents/<int:pk>/", clinical.consent_detail, name="consent_detail"),
    path("consents/<int:pk>/signature.png", clinical.consent_signature, name="consent_signature"),
    path("consents/<int:pk>/withdraw/", clinical.consent_withdraw, name="consent_withdraw"),
    path("patients/<int:pk>/screening/new/", clinical.screening_create, name="screening_create"),
    path("sessions/<int:pk>/screening/confirm/", clinical.screening_confirm, name="screening_confirm"),
    path("screenings/<int:pk>/override/", clinical.screening_override, name="screening_override"),
    # treatment records and the timeline (clinical)
    path("sessions/<int:pk>/record/", records.record_edit, name="record_edit"),
    path("sessions/<int:pk>/record/check/", records.record_check, name="record_check"),
    path("sessions/<int:pk>/record/scan/", records.record_scan, name="record_scan"),
    path("records/<int:pk>/", records.record_detail, name="record_detail"),
    path("records/<int:pk>/sign/", records.record_sign, name="record_sign"),
    path("records/<int:pk>/addendum/", records.record_addendum, name="record_addendum"),
    path("patients/<int:pk>/timeline/", records.patient_timeline, name="patient_timeline"),
    # Intake before the visit (issue 20): the patient's link, no login.
    path("i/<str:token>/", intake_views.session_intake, name="session_intake"),
]
