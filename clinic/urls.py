from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from clinic import account_views, metrics, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/live", views.healthz_live, name="healthz_live"),
    path("healthz/ready", views.healthz_ready, name="healthz_ready"),
    path("metrics", metrics.metrics, name="metrics"),
    path("accounts/login/", account_views.SignInView.as_view(), name="login"),
    path("accounts/login/code/", account_views.mfa_verify, name="mfa_verify"),
    path("accounts/two-step/setup/", account_views.mfa_enrol, name="mfa_enrol"),
    path("accounts/two-step/recovery-codes/", account_views.mfa_recovery_codes, name="mfa_recovery_codes"),
    path("accounts/two-step/", account_views.mfa_account, name="mfa_account"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/password/reset/", account_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        account_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("clinic/reports/", include("clinic.reports.urls")),
    path("clinic/", include("clinic.urls_app")),
    path("products/", include("products.urls")),
    path("treatments/photos/", include("treatments.photos.urls")),
    path("treatments/", include("treatments.urls")),
    # The admin signs in through the site's own two-step sign-in, never its own form.
    path("admin/login/", login_not_required(RedirectView.as_view(pattern_name="login", query_string=True))),
    path("admin/", admin.site.urls),
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url="/static/favicon.svg", permanent=True)),
    ),
]

handler400 = "clinic.views.error_400"
handler403 = "clinic.views.error_403"
handler404 = "clinic.views.error_404"
handler500 = "clinic.views.error_500"
