"""What a notification is about: the one vocabulary of ``Notification.kind``, for every app.

The foundation cannot import products or treatments, so their kinds are listed here too (as
Zulip lists every app's audit events in one enum). The values are what is stored; never
change one, add a member instead.
"""

from __future__ import annotations

from django.db import models


class NotificationKind(models.TextChoices):
    """Every kind of message the site writes to the outbox."""

    # To patients (treatments/reminders.py, clinic/reports/services.py)
    REMINDER_APPOINTMENT = "reminder.appointment", "Appointment reminder"
    REMINDER_MAINTENANCE = "reminder.maintenance", "Maintenance reminder"
    RECALL_PATIENT = "recall.patient", "Recall message"
    INTAKE_REQUEST = "intake.request", "Intake link (before a visit)"
    BOOKING_CONFIRMATION = "booking.confirmation", "Booking confirmation"
    # To staff (products/sweeps.py, products/services/excursions.py)
    PRODUCT_EXPIRY_DIGEST = "product.expiry_digest", "Product expiry digest"
    EXCURSION_OPENED = "excursion.opened", "Excursion opened"
    COLDCHAIN_MISSED_CHECK = "coldchain.missed_check", "Missed temperature check"
    COLDCHAIN_LOGGER_GAP = "coldchain.logger_gap", "Missing data-logger data"
    CALIBRATION_EXPIRY = "calibration.expiry", "Calibration certificate expiring"
    DOCUMENT_EXPIRY = "document.expiry", "Regulatory document expiring"
    LOW_STOCK_DIGEST = "product.low_stock_digest", "Low-stock digest"
