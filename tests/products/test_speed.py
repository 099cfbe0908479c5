"""Issue 19 ("Speed"): the manager's home page, the stock overview and the compliance page ask
the same number of queries with 2 lots and with many more (lots of several products, some
without their certificate, some quarantined or expiring), and count what they show in SQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from products.models import Lot
from products.services import lot_quarantine
from tests.products.factories import ProductFactory, make_lot

pytestmark = pytest.mark.django_db

PAGES = ["/", "/products/stock/", "/products/compliance/", "/products/compliance/?state=gaps"]


def _lots(unit, manager, n: int, start: int = 0) -> None:
    today = timezone.localdate()
    products = [ProductFactory(cleared=bool(i % 3)) for i in range(3)]
    for i in range(start, start + n):
        lot = make_lot(
            unit=unit,
            product=products[i % 3],
            lot_number=f"SPEED-{i}",
            expiry=today + dt.timedelta(days=5 + 40 * (i % 5)),
            coa=bool(i % 4),
            actor=manager,
        )
        if i % 7 == 0:
            lot_quarantine(lot=lot, actor=manager, reason="check")


@pytest.mark.parametrize("url", PAGES)
def test_the_query_count_does_not_grow_with_lots(client_for, manager, unit, django_assert_num_queries, url):
    c = client_for(manager)
    _lots(unit, manager, 2)
    c.get(url)
    with django_assert_num_queries(len_queries := _count(c, url), info=f"{url}, 2 lots"):
        assert c.get(url).status_code == 200
    _lots(unit, manager, 40, start=2)  # more than a page of the compliance list
    assert Lot.objects.count() == 42
    with django_assert_num_queries(len_queries, info=f"{url}, 42 lots"):
        assert c.get(url).status_code == 200


def _count(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return len(ctx.captured_queries)


def test_the_panels_count_what_the_compliance_page_counts(client_for, manager, unit):
    _lots(unit, manager, 12)
    c = client_for(manager)
    page = c.get("/products/compliance/")
    counts = page.context["counts"]
    panels = {p["template"].rsplit("/", 1)[-1]: p for p in c.get("/").context["panels"]}
    assert panels["compliance.html"]["gaps"] == counts.gaps
    assert panels["compliance.html"]["uncleared_lots"] == counts.uncleared_lots
    assert panels["stock.html"]["usable_lots"] == Lot.objects.usable().count()
    # The page lists lots a page at a time, each with its own gaps.
    assert len(page.context["page"].object_list) == 12 and counts.lots == 12
    uncleared = c.get("/products/compliance/", {"state": "uncleared"}).context["page"]
    assert uncleared.paginator.count == counts.uncleared_lots
