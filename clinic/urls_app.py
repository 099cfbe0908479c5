from __future__ import annotations

from django.urls import path

from clinic import account_views, views

app_name = "clinic"

urlpatterns = [
    path("audit/", views.audit_list, name="audit_list"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("outbox/", views.outbox_list, name="outbox_list"),
    path("outbox/<int:pk>/retry/", views.outbox_retry, name="outbox_retry"),
    path("outbox/<int:pk>/cancel/", views.outbox_cancel, name="outbox_cancel"),
    path("mail/", views.sent_mail_list, name="sent_mail_list"),
    path("mail/<int:pk>/", views.sent_mail_detail, name="sent_mail_detail"),
    path("alerts/", views.alert_list, name="alert_list"),
    path("alerts/read/", views.alert_mark_read, name="alert_mark_read"),
    path("reminders/stop/<str:token>/", views.reminder_opt_out, name="reminder_opt_out"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/new/", views.staff_create, name="staff_create"),
    path("staff/<int:pk>/", views.staff_edit, name="staff_edit"),
    path("staff/<int:pk>/second-factor/reset/", account_views.staff_mfa_reset, name="staff_mfa_reset"),
    path(
        "staff/<int:pk>/password-reset/", account_views.staff_password_reset_send, name="staff_password_reset"
    ),
]
