from __future__ import annotations

from django.contrib import admin

from clinic.models import AuditEvent, Location, Notification, StaffProfile, WorkerHeartbeat
from clinic.phones import PhoneField, phone_national


class PhoneInputAdmin(admin.ModelAdmin):
    """The ``phone`` input checked and stored as everywhere else (clinic.phones.PhoneField)."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "phone":
            return PhoneField(required=False, label="Phone")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(Location)
class LocationAdmin(PhoneInputAdmin):
    list_display = ["name", "code", "phone_display", "is_active"]
    search_fields = ["name", "code"]

    @admin.display(description="phone", ordering="phone")
    def phone_display(self, obj: Location) -> str:
        return phone_national(obj.phone)


@admin.register(StaffProfile)
class StaffProfileAdmin(PhoneInputAdmin):
    list_display = ["user", "job_title"]
    filter_horizontal = ["locations"]
    search_fields = ["user__username", "user__last_name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services (audit, ledger, readings): never added, edited or deleted by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "action", "object_type", "object_id", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_repr", "actor_name", "object_id", "request_id"]
    date_hierarchy = "created_at"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "channel", "to_address", "status", "attempts", "due_at"]
    list_filter = ["status", "kind", "channel"]
    search_fields = ["dedupe_key", "to_address", "subject"]
    readonly_fields = ["dedupe_key", "attempts", "claimed_at", "sent_at", "last_error"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_seen"]
