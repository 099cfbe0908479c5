from __future__ import annotations

import datetime as dt

import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic import mfa, notifications, services
from clinic.audit import AuditAction, audit_record
from clinic.dashboard import panels_for
from clinic.exports import csv_response
from clinic.forms import AuditFilterForm, StaffForm
from clinic.mailbox import mailbox_active
from clinic.metrics import may_see_internals
from clinic.models import AuditEvent, Notification, SentMail, WorkerHeartbeat
from clinic.roles import ROLES, role_of
from clinic.scoping import AuthenticatedHttpRequest, location_ids_for, locations_for
from clinic.tables import paginate, sort_queryset

User = get_user_model()


@require_GET
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    role = role_of(request.user)
    if role is None:
        return render(request, "clinic/no_role.html", status=403)
    return render(
        request,
        "clinic/dashboard.html",
        {"role": role, "panels": panels_for(request.user, role.key)},
    )


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return False
    return True


def _redis_ok() -> bool:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception:
        return False
    return True


# Once every migration is applied in this process it stays so (new code means a new process),
# so the readiness probe reads the migration files once, not at every call.
_migrations_applied = False


def _migrations_ok() -> bool:
    global _migrations_applied
    if not _migrations_applied:
        from django.db.migrations.executor import MigrationExecutor

        try:
            executor = MigrationExecutor(connection)
            _migrations_applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
        except Exception:
            return False
    return _migrations_applied


def _worker() -> dict:
    heartbeat = WorkerHeartbeat.objects.order_by("-last_seen").first()
    if heartbeat is None:
        return {"last_heartbeat": None, "age_seconds": None}
    age = (timezone.now() - heartbeat.last_seen).total_seconds()
    return {"last_heartbeat": heartbeat.last_seen.isoformat(), "age_seconds": round(age)}


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The original probe, kept for load balancers set up against it: 503 without the database,
    "degraded" (200) without Redis. Anonymous callers learn up or down only; signed-in staff see
    the database and Redis; managers and the metrics token the worker's heartbeat too."""
    body: dict = {"status": "ok"}
    status = 200
    database = _database_ok()
    body["database"] = "ok" if database else "unreachable"
    if not database:
        body["status"] = "error"
        status = 503
    body["redis"] = "ok" if _redis_ok() else "unreachable"
    if body["redis"] != "ok" and status == 200:
        body["status"] = "degraded"
    internals = may_see_internals(request)
    if not request.user.is_authenticated and not internals:
        # Anonymous callers (a load balancer, anyone on the internet) learn up or down only.
        return JsonResponse({"status": body["status"]}, status=status)
    if internals:
        body["worker"] = _worker() if database else {"last_heartbeat": None, "age_seconds": None}
    return JsonResponse(body, status=status)


@login_not_required
@never_cache
@require_GET
def healthz_live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No database, no Redis: restarting a process cannot fix those."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_GET
def healthz_ready(request: HttpRequest) -> JsonResponse:
    """Readiness: send traffic here only with the database, Redis and every migration applied
    (503 otherwise). Details (and the worker's heartbeat) for managers and the metrics token."""
    checks = {"database": _database_ok()}
    checks["migrations"] = checks["database"] and _migrations_ok()
    checks["redis"] = _redis_ok()
    ready = all(checks.values())
    status = 200 if ready else 503
    body: dict = {"status": "ok" if ready else "error"}
    if may_see_internals(request):
        body.update({name: "ok" if ok else "unavailable" for name, ok in checks.items()})
        if checks["database"]:
            body["worker"] = _worker()
    return JsonResponse(body, status=status)


# --- Audit trail ------------------------------------------------------------------------


def _audit_queryset(request: AuthenticatedHttpRequest):
    """Events at the manager's locations plus location-less ones (logins, system jobs)."""
    from django.db.models import Q

    qs = AuditEvent.objects.select_related("location")
    if not request.user.is_superuser:
        qs = qs.filter(Q(location__in=location_ids_for(request.user)) | Q(location__isnull=True))
    actors = User.objects.filter(staff_profile__locations__in=location_ids_for(request.user)).distinct()
    form = AuditFilterForm(request.GET or None, actors=actors.order_by("username"))
    if form.is_valid():
        data = form.cleaned_data
        if data["actor"]:
            qs = qs.filter(actor=data["actor"])
        if data["action"]:
            qs = qs.filter(action__startswith=data["action"].strip())
        if data["object_type"]:
            qs = qs.filter(object_type=data["object_type"].strip().lower())
        if data["object_id"]:
            qs = qs.filter(object_id=data["object_id"].strip())
        tz = timezone.get_current_timezone()
        if data["date_from"]:
            qs = qs.filter(created_at__gte=dt.datetime.combine(data["date_from"], dt.time.min, tz))
        if data["date_to"]:
            qs = qs.filter(
                created_at__lt=dt.datetime.combine(data["date_to"] + dt.timedelta(days=1), dt.time.min, tz)
            )
    elif form.is_bound:
        qs = qs.none()
    return form, qs


@permission_required("clinic.view_auditevent", raise_exception=True)
@require_GET
def audit_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, qs = _audit_queryset(request)
    page = paginate(request, qs.order_by("-created_at", "-id"), per_page=50)
    return render(request, "clinic/audit_list.html", {"form": form, "page": page})


@permission_required("clinic.view_auditevent", raise_exception=True)
@require_GET
def audit_export(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    _, qs = _audit_queryset(request)
    rows = (
        (
            e.created_at.isoformat(),
            e.actor_name,
            e.action,
            e.object_type,
            e.object_id,
            e.object_repr,
            e.location.code if e.location else "",
            e.before,
            e.after,
            e.request_id,
            e.ip_address,
        )
        for e in qs.order_by("-created_at", "-id").iterator(chunk_size=2000)
    )
    header = [
        "time_utc",
        "actor",
        "action",
        "object_type",
        "object_id",
        "object",
        "location",
        "before",
        "after",
        "request_id",
        "ip",
    ]
    return csv_response("audit-trail.csv", header, rows)


# --- Outbox and alerts -------------------------------------------------------------------


@permission_required("clinic.view_notification", raise_exception=True)
@require_GET
def outbox_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    from django.db.models import Q

    qs = Notification.objects.select_related("recipient_user", "location")
    if not request.user.is_superuser:
        qs = qs.filter(Q(location__in=location_ids_for(request.user)) | Q(location__isnull=True))
    kinds = sorted(set(qs.values_list("kind", flat=True).distinct()))
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    if status in Notification.Status.values:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    qs, sort = sort_queryset(
        request, qs, {"due": "due_at", "created": "created_at", "status": "status"}, "-created"
    )
    counts = dict(
        Notification.objects.filter(pk__in=qs.values("pk")).values_list("status").annotate(n=Count("id"))
    )
    return render(
        request,
        "clinic/outbox_list.html",
        {
            "page": paginate(request, qs),
            "statuses": Notification.Status.choices,
            "kinds": kinds,
            "status": status,
            "kind": kind,
            "sort": sort,
            "counts": counts,
        },
    )


def _outbox_item(request: AuthenticatedHttpRequest, pk: int) -> Notification:
    from django.db.models import Q

    qs = Notification.objects.all()
    if not request.user.is_superuser:
        qs = qs.filter(Q(location__in=location_ids_for(request.user)) | Q(location__isnull=True))
    return get_object_or_404(qs, pk=pk)


@permission_required("clinic.change_notification", raise_exception=True)
@require_POST
def outbox_retry(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    notification = _outbox_item(request, pk)
    try:
        notifications.notification_retry(notification=notification, actor=request.user)
        messages.success(request, "The notification is queued to be sent again.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("clinic:outbox_list")


@permission_required("clinic.change_notification", raise_exception=True)
@require_POST
def outbox_cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    notification = _outbox_item(request, pk)
    try:
        notifications.notifications_cancel(
            notification=notification, actor=request.user, reason="Cancelled by a manager"
        )
        messages.success(request, "The notification is cancelled.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("clinic:outbox_list")


# --- Sent mail: what the demo's mail backend kept instead of sending ---------------------


def _require_mailbox() -> None:
    if not mailbox_active():
        raise Http404("Mail is sent, not kept in the site.")


@permission_required("clinic.view_sentmail", raise_exception=True)
@require_GET
def sent_mail_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_mailbox()
    qs = SentMail.objects.defer("body", "html_body", "headers")
    recipient = request.GET.get("to", "").strip()[:254]
    if recipient:
        qs = qs.filter(to__icontains=recipient)
    return render(
        request,
        "clinic/sent_mail_list.html",
        {"page": paginate(request, qs.order_by("-sent_at", "-id")), "recipient": recipient},
    )


@permission_required("clinic.view_sentmail", raise_exception=True)
@require_GET
def sent_mail_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    _require_mailbox()
    mail = get_object_or_404(SentMail, pk=pk)
    # Patient data (names, times, links): a read is audited like the patient's own pages.
    audit_record(actor=request.user, action=AuditAction.SENT_MAIL_VIEW, obj=mail)
    return render(request, "clinic/sent_mail_detail.html", {"mail": mail})


@permission_required("clinic.view_own_alerts", raise_exception=True)
@require_GET
def alert_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    qs = Notification.objects.filter(recipient_user=request.user, channel=Notification.Channel.IN_APP)
    return render(request, "clinic/alert_list.html", {"page": paginate(request, qs.order_by("-created_at"))})


@permission_required("clinic.view_own_alerts", raise_exception=True)
@require_POST
def alert_mark_read(request: AuthenticatedHttpRequest) -> HttpResponse:
    Notification.objects.filter(
        recipient_user=request.user, channel=Notification.Channel.IN_APP, read_at__isnull=True
    ).update(read_at=timezone.now())
    messages.success(request, "All alerts are marked as read.")
    return redirect("clinic:alert_list")


# --- Patients' opt-out from reminders (public: the link is in every reminder) -------------


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def reminder_opt_out(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation (mail scanners follow links); POST records the opt-out.

    The signed token names the patient; nothing about the patient is shown.
    """
    from treatments.reminders import opt_out_patient_id, patient_reminders_opt_out

    template = "clinic/reminder_opt_out.html"
    patient_id = opt_out_patient_id(token)
    if patient_id is None:
        return render(request, template, {"state": "invalid"}, status=400)
    if request.method == "POST":
        if patient_reminders_opt_out(patient_id=patient_id, actor=None) is None:
            return render(request, template, {"state": "invalid"}, status=404)
        return render(request, template, {"state": "done"})
    return render(request, template, {"state": "confirm", "token": token})


# --- Staff ------------------------------------------------------------------------------


def managed_colleague(request: AuthenticatedHttpRequest, pk: int):
    """A staff member at the manager's locations (else 404) whom this manager may manage (else
    403: they also work at a site the manager does not manage)."""
    member = get_object_or_404(_staff_scope(request.user), pk=pk)
    if not services.staff_may_manage(actor=request.user, user=member):
        raise PermissionDenied(
            f"{member.username} also works at a site you do not manage; "
            "a manager of all their sites must change this account."
        )
    return member


def _staff_scope(user):
    return (
        User.objects.filter(staff_profile__locations__in=location_ids_for(user))
        .distinct()
        .prefetch_related("groups", "staff_profile__locations")
    )


@permission_required("clinic.manage_staff", raise_exception=True)
@require_GET
def staff_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    qs, sort = sort_queryset(
        request,
        _staff_scope(request.user),
        {"username": "username", "name": "last_name", "active": "is_active"},
        "username",
    )
    return render(request, "clinic/staff_list.html", {"page": paginate(request, qs), "sort": sort})


@permission_required("clinic.manage_staff", raise_exception=True)
@require_http_methods(["GET", "POST"])
def staff_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = StaffForm(request.POST or None, locations=locations_for(request.user))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        user = services.staff_create(
            actor=request.user,
            username=d["username"],
            first_name=d["first_name"],
            last_name=d["last_name"],
            email=d["email"],
            role_key=d["role"],
            locations=list(d["locations"]),
            password=d["password"],
            job_title=d["job_title"],
        )
        messages.success(request, f"Account {user.username} created.")
        return redirect("clinic:staff_list")
    return render(request, "clinic/staff_form.html", {"form": form, "title": "New staff account"})


@permission_required("clinic.manage_staff", raise_exception=True)
@require_http_methods(["GET", "POST"])
def staff_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    member = managed_colleague(request, pk)
    role = role_of(member)
    profile = getattr(member, "staff_profile", None)
    initial = {
        "username": member.username,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "email": member.email,
        "role": role.key if role else "",
        "is_active": member.is_active,
        "locations": list(profile.locations.all()) if profile else [],
        "job_title": profile.job_title if profile else "",
    }
    form = StaffForm(
        request.POST or None, initial=initial, locations=locations_for(request.user), editing=member
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        # Keep locations the acting manager cannot see; they only edit their own sites.
        hidden = [loc for loc in initial["locations"] if loc not in form.location_choices]
        try:
            services.staff_update(
                actor=request.user,
                user=member,
                first_name=d["first_name"],
                last_name=d["last_name"],
                email=d["email"],
                role_key=d["role"],
                locations=list(d["locations"]) + hidden,
                is_active=d["is_active"],
                job_title=d["job_title"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Account {member.username} updated.")
            return redirect("clinic:staff_list")
    return render(
        request,
        "clinic/staff_form.html",
        {
            "form": form,
            "title": f"Edit {member.username}",
            "roles": ROLES,
            "member": member,
            "member_mfa": mfa.has_second_factor(member),
            "member_mfa_required": mfa.role_requires_mfa(member),
        },
    )


# --- Error pages --------------------------------------------------------------------------


def error_400(request: AuthenticatedHttpRequest, exception=None) -> HttpResponse:
    return render(request, "400.html", status=400)


def error_403(request: AuthenticatedHttpRequest, exception=None) -> HttpResponse:
    return render(request, "403.html", status=403)


def error_404(request: AuthenticatedHttpRequest, exception=None) -> HttpResponse:
    return render(request, "404.html", status=404)


def error_500(request: AuthenticatedHttpRequest) -> HttpResponse:
    # No context processors: the database may be what failed.
    from django.template import loader

    return HttpResponse(loader.get_template("500.html").render({}), status=500)
