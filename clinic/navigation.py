"""The navigation, declared once: each entry shows only to users holding its permission."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from clinic.mailbox import mailbox_active


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str | None = None
    section: str = ""
    # Shown only while this returns true (e.g. Sent mail, only while mail is kept in the site).
    when: Callable[[], bool] | None = None


# Apps add their entries here; order is the order in the bar.
NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("Dashboard", "dashboard"),
    NavItem("Today", "treatments:today", "treatments.view_session"),
    NavItem("Calendar", "treatments:calendar_day", "treatments.view_session"),
    NavItem("Texts", "treatments:inbox", "treatments.change_session"),
    NavItem("Patients", "treatments:patient_list", "treatments.view_patient"),
    NavItem("Due list", "treatments:due_list", "treatments.view_contactattempt"),
    NavItem("Calendar feed", "treatments:calendar_feed", "treatments.add_calendarfeed"),
    NavItem("Protocols", "treatments:protocol_list", "treatments.change_protocoltemplate", "Admin"),
    NavItem("Working hours", "treatments:working_hours_list", "treatments.change_workinghours", "Admin"),
    NavItem("Consents", "treatments:consent_template_list", "treatments.add_consenttemplate", "Admin"),
    # products:
    NavItem("Stock overview", "products:stock_overview", "products.view_lot", "Stock"),
    NavItem("Stock-takes", "products:stocktake_list", "products.move_stock", "Stock"),
    NavItem("Cold chain", "products:unit_list", "products.view_storageunit", "Stock"),
    NavItem("Excursions", "products:excursion_list", "products.view_excursion", "Stock"),
    NavItem("Catalogue", "products:product_list", "products.view_product", "Stock"),
    NavItem("Compliance", "products:compliance_dashboard", "products.view_compliance", "Stock"),
    # end products
    NavItem("Reports", "reports:dashboard", "clinic.view_reports"),
    NavItem("Audit trail", "clinic:audit_list", "clinic.view_auditevent", "Admin"),
    NavItem("Outbox", "clinic:outbox_list", "clinic.view_notification", "Admin"),
    NavItem("Sent mail", "clinic:sent_mail_list", "clinic.view_sentmail", "Admin", when=mailbox_active),
    NavItem("Staff", "clinic:staff_list", "clinic.manage_staff", "Admin"),
)


def nav_tree(items: list[dict]) -> list[dict]:
    """Top-level entries in order; items with a section become one dropdown per section.

    The "Admin" section always comes last (next to the user menu).
    """
    tree: list[dict] = []
    groups: dict[str, dict] = {}
    for item in items:
        section = item["section"]
        if not section:
            tree.append(item)
            continue
        if section not in groups:
            groups[section] = {"label": section, "children": [], "active": False, "section": section}
            tree.append(groups[section])
        groups[section]["children"].append(item)
        groups[section]["active"] = groups[section]["active"] or item["active"]
    tree.sort(key=lambda entry: entry.get("section") == "Admin")
    return tree


def nav_for(user, current_path: str) -> list[dict]:
    items = []
    for item in NAV_ITEMS:
        if item.permission and not user.has_perm(item.permission):
            continue
        if item.when is not None and not item.when():
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        active = current_path == url if url == "/" else current_path.startswith(url)
        items.append({"label": item.label, "url": url, "active": active, "section": item.section})
    return items
