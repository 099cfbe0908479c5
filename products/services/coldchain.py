"""The cold-chain services, kept importable under their first name.

They live in ``products.services.readings`` (manual checks, logger imports),
``products.services.checks`` (missed checks)
and ``products.services.excursions`` (opening, holding stock, review, addenda).
"""

from __future__ import annotations

from products.services.checks import (  # noqa: F401
    LOGGER_INTERVAL,
    MANUAL_WORKING_HOURS,
    Gap,
    missed_checks,
)
from products.services.excursions import (  # noqa: F401
    REVIEW_FIELDS,
    apply_readings,
    excursion_addendum,
    excursion_close,
    excursion_hold_lot,
    excursion_review,
)
from products.services.readings import (  # noqa: F401
    ImportResult,
    reading_record,
    readings_import_file,
)
