"""The one map of roles to permissions.

Each role is a Django Group holding model permissions. The groups are created by a data
migration and re-synced after every ``migrate`` (post_migrate), both from ``ROLES`` below,
so the database never drifts from this file. Views check permissions, never group names.
"""

from __future__ import annotations

from dataclasses import dataclass

FRONT_DESK = "front_desk"
PRACTITIONER = "practitioner"
MANAGER = "manager"


@dataclass(frozen=True)
class Role:
    key: str
    group: str
    description: str
    permissions: tuple[str, ...]


_FRONT_DESK_PERMS = (
    "clinic.view_location",
    "clinic.view_own_alerts",
    # treatments: patients' contact data, bookings, plans' schedule, the due list
    "treatments.view_patient",
    "treatments.add_patient",
    "treatments.change_patient",
    "treatments.view_session",
    "treatments.add_session",
    "treatments.change_session",
    "treatments.view_treatmentplan",
    "treatments.view_protocoltemplate",
    "treatments.view_contactattempt",
    "treatments.add_contactattempt",
    "treatments.view_workinghours",
)

_PRACTITIONER_PERMS = (
    "clinic.view_location",
    "clinic.view_own_alerts",
    # products: read stock, open and draw vials, use stock in treatments
    "products.view_product",
    "products.view_lot",
    "products.view_openedvial",
    "products.open_vial",
    "products.use_stock",
    # products: regulatory documents, read-only (instructions for use at the chair side)
    "products.view_regulatorydocument",
    # treatments: own sessions, plans, clinical records, private calendar feed
    "treatments.view_patient",
    "treatments.view_clinical_record",
    "treatments.view_session",
    "treatments.add_session",
    "treatments.change_session",
    "treatments.perform_session",
    "treatments.view_treatmentplan",
    "treatments.add_treatmentplan",
    "treatments.change_treatmentplan",
    "treatments.view_protocoltemplate",
    "treatments.view_workinghours",
    "treatments.add_calendarfeed",
    # treatments: consent and screening (clinical; never the front desk)
    "treatments.view_consenttemplate",
    "treatments.view_patientconsent",
    "treatments.add_patientconsent",
    "treatments.change_patientconsent",
    "treatments.view_screening",
    "treatments.add_screening",
    "treatments.override_screening",
    # treatments: treatment records (chart with stock, sign, addenda)
    "treatments.view_treatmentrecord",
    "treatments.add_treatmentrecord",
    "treatments.change_treatmentrecord",
    "treatments.sign_treatmentrecord",
    "treatments.add_addendum",
    # photos: take, view, flag for marketing (with consent) and retire clinical photos
    "photos.view_photo",
    "photos.add_photo",
    "photos.flag_marketing",
    "photos.retire_photo",
)

_MANAGER_PERMS = (
    "clinic.view_location",
    "clinic.view_own_alerts",
    "clinic.view_auditevent",
    "clinic.view_notification",
    "clinic.change_notification",
    "clinic.view_sentmail",
    "clinic.manage_staff",
    "clinic.view_reports",
    # products: the whole inventory and cold chain
    "products.view_product",
    "products.add_product",
    "products.change_product",
    "products.view_lot",
    "products.receive_stock",
    "products.move_stock",
    "products.hold_stock",
    "products.use_stock",
    "products.view_stockmovement",
    # products: reorder levels (minimum and reorder quantity per product and location)
    "products.view_reorderlevel",
    "products.change_reorderlevel",
    "products.view_openedvial",
    "products.open_vial",
    "products.view_storageunit",
    "products.add_storageunit",
    "products.change_storageunit",
    "products.view_temperaturereading",
    "products.add_temperaturereading",
    "products.import_readings",
    "products.view_excursion",
    "products.review_excursion",
    # products: compliance (documents, classification, approval, the dashboard)
    "products.view_regulatorydocument",
    "products.add_regulatorydocument",
    "products.approve_product",
    "products.view_compliance",
    # treatments: everything the desk does, plus protocols, working hours, out-of-hours booking
    "treatments.view_patient",
    "treatments.add_patient",
    "treatments.change_patient",
    "treatments.view_clinical_record",
    "treatments.view_session",
    "treatments.add_session",
    "treatments.change_session",
    "treatments.book_outside_hours",
    "treatments.view_treatmentplan",
    "treatments.add_treatmentplan",
    "treatments.change_treatmentplan",
    "treatments.view_protocoltemplate",
    "treatments.change_protocoltemplate",
    "treatments.view_contactattempt",
    "treatments.add_contactattempt",
    "treatments.view_workinghours",
    "treatments.change_workinghours",
    # treatments: consent templates (publish versions), consents (read, record withdrawal), screening
    "treatments.view_consenttemplate",
    "treatments.add_consenttemplate",
    "treatments.view_patientconsent",
    "treatments.change_patientconsent",
    "treatments.view_screening",
    "treatments.view_treatmentrecord",
    # treatments: patients' data rights (subject-access export, restriction, erasure requests)
    "treatments.manage_data_rights",
    # photos: as practitioners, and still see photos after photography consent is withdrawn
    "photos.view_photo",
    "photos.add_photo",
    "photos.flag_marketing",
    "photos.retire_photo",
    "photos.view_withdrawn_photo",
)

ROLES: dict[str, Role] = {
    FRONT_DESK: Role(
        FRONT_DESK,
        "Front desk",
        "Registers patients, books and reschedules sessions, works the reminder list.",
        _FRONT_DESK_PERMS,
    ),
    PRACTITIONER: Role(
        PRACTITIONER,
        "Practitioner",
        "Screens and consents patients, logs treatments and photos.",
        _PRACTITIONER_PERMS,
    ),
    MANAGER: Role(
        MANAGER,
        "Manager",
        "Receives stock, watches expiry and the cold chain, reviews compliance and staff.",
        _MANAGER_PERMS,
    ),
}

# Highest first: a user in several groups lands on the dashboard of the strongest role.
ROLE_ORDER = (MANAGER, PRACTITIONER, FRONT_DESK)


def role_of(user) -> Role | None:
    """The strongest role the user holds, or None for a user with no role."""
    if not getattr(user, "is_authenticated", False):
        return None
    if hasattr(user, "_clinic_role"):
        return user._clinic_role
    role: Role | None
    if user.is_superuser:
        role = ROLES[MANAGER]
    else:
        names = set(user.groups.values_list("name", flat=True))
        role = next((ROLES[k] for k in ROLE_ORDER if ROLES[k].group in names), None)
    user._clinic_role = role
    return role


def sync_roles(apps=None, *, strict: bool = False) -> None:
    """Create the groups and give each exactly the permissions the map lists.

    Permissions whose model does not exist yet (an older migration state) are skipped
    unless ``strict``; the post_migrate run at the end of every migrate fills them in.
    """
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role in ROLES.values():
        group, _ = Group.objects.get_or_create(name=role.group)
        wanted = []
        for dotted in role.permissions:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is None:
                if strict:
                    raise LookupError(f"Permission {dotted} named in clinic.roles does not exist.")
                continue
            wanted.append(perm)
        group.permissions.set(wanted)


def sync_roles_after_migrate(sender, **kwargs) -> None:
    from django.contrib.auth.management import create_permissions

    apps = kwargs.get("apps")
    # Make sure every app's permissions exist before assigning them (post_migrate order
    # between apps is not guaranteed).
    from django.apps import apps as global_apps

    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=kwargs.get("using", "default"))
    sync_roles(apps if apps is not None else None)
