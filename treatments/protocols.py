"""The protocols clinics start from (practice consensus, see DOMAIN.md "Treatments").

The data migration seeds its own frozen copy; this one lets demo data and tests put them
back after a database flush. Managers tune the rows afterwards; nothing here overwrites them.
"""

from __future__ import annotations

from decimal import Decimal

from treatments.models import ProtocolTemplate

# What a record of each protocol starts from (DOMAIN.md "Treatments"): nappage 30–32G,
# 0.01–0.02 mL per point, 1–1.5 cm apart; scalp 30–31G, 0.02–0.05 mL per point; the
# post-procedure application is topical, through the microchannels just opened.
CHART_DEFAULTS: dict[str, dict] = {
    "skin-quality": {
        "chart_route": "intradermal",
        "chart_areas": ["face"],
        "chart_vials": 1,
        "chart_needle_gauge": 31,
        "chart_depth_mm": Decimal("1.0"),
        "chart_volume_per_point_ml": Decimal("0.015"),
        "chart_spacing_cm": Decimal("1.0"),
    },
    "hair": {
        "chart_route": "scalp",
        "chart_areas": ["scalp"],
        "chart_vials": 1,
        "chart_needle_gauge": 30,
        "chart_depth_mm": Decimal("2.0"),
        "chart_volume_per_point_ml": Decimal("0.03"),
        "chart_spacing_cm": Decimal("1.0"),
    },
    "post-procedure": {"chart_route": "topical", "chart_areas": ["face"], "chart_vials": 1},
}

DEFAULT_TEMPLATES = [
    {
        "key": "skin-quality",
        "name": "Skin quality (injection)",
        "treatment_type": "skin_quality",
        "per_procedure": False,
        "induction_sessions": 3,
        "induction_sessions_max": 3,
        "induction_interval_days": 28,
        "maintenance_min_days": 90,
        "maintenance_max_days": 120,
        "description": "3 induction sessions 4 weeks apart, then maintenance every 3–4 months.",
        **CHART_DEFAULTS["skin-quality"],
    },
    {
        "key": "hair",
        "name": "Hair / scalp",
        "treatment_type": "hair",
        "per_procedure": False,
        "induction_sessions": 4,
        "induction_sessions_max": 6,
        "induction_interval_days": 30,
        "maintenance_min_days": 60,
        "maintenance_max_days": 90,
        "description": "4–6 monthly induction sessions, then maintenance every 2–3 months.",
        **CHART_DEFAULTS["hair"],
    },
    {
        "key": "post-procedure",
        "name": "Post-procedure topical",
        "treatment_type": "post_procedure",
        "per_procedure": True,
        "induction_sessions": 0,
        "induction_sessions_max": 0,
        "induction_interval_days": 0,
        "maintenance_min_days": 0,
        "maintenance_max_days": 0,
        "description": "One application with each procedure session (microneedling, laser…).",
        **CHART_DEFAULTS["post-procedure"],
    },
]


def ensure_default_templates() -> dict[str, ProtocolTemplate]:
    """Create any missing default protocol (by key) and return all protocols by key."""
    for data in DEFAULT_TEMPLATES:
        ProtocolTemplate.objects.get_or_create(key=data["key"], defaults=data)
    return {t.key: t for t in ProtocolTemplate.objects.all()}
