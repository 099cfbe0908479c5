from __future__ import annotations

from django.urls import path

from treatments.views import calendar, feeds, manage, patients, plans, sessions

app_name = "treatments"

urlpatterns = [
    path("patients/", patients.patient_list, name="patient_list"),
    path("patients/search.json", patients.patient_search, name="patient_search"),
    path("patients/new/", patients.patient_create, name="patient_create"),
    path("patients/<int:pk>/", patients.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", patients.patient_edit, name="patient_edit"),
    path("patients/<int:pk>/plans/new/", plans.plan_create, name="plan_create"),
    path("calendar/", calendar.calendar_day, name="calendar_day"),
    path("calendar/week/", calendar.calendar_week, name="calendar_week"),
    path("today/", calendar.today, name="today"),
    path("sessions/new/", sessions.session_book, name="session_book"),
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
]
