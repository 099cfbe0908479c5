"""A test-only page for the injection map widget: one product line with the inputs the record
form gives it, and the map include. Used with ``@pytest.mark.urls("tests.treatments.map_urls")``
by tests/browser/test_injection_map.py; never part of the real URLconf.

The page posts to itself: it shows the points the server read (the read-only map) and the bound
form again, as the record form does after a failed save.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from clinic.urls import urlpatterns as site_urlpatterns
from treatments.injection_map import MapPointsField
from treatments.models import Area, Route

TEMPLATE = engines["django"].from_string((Path(__file__).parent / "map_page.html").read_text())


class MapLineForm(forms.Form):
    """The product-line inputs the widget reads and writes (names as in the record form)."""

    vials = forms.IntegerField(label="Sealed vials", required=False)
    volume_ml = forms.DecimalField(label="Volume (mL)", required=False, max_digits=6, decimal_places=2)
    route = forms.ChoiceField(choices=[("", "—"), *Route.choices], required=False)
    areas = forms.MultipleChoiceField(
        choices=Area.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    depth_mm = forms.DecimalField(label="Depth (mm)", required=False, max_digits=4, decimal_places=2)
    volume_per_point_ml = forms.DecimalField(
        label="Volume per point (mL)", required=False, max_digits=5, decimal_places=3
    )
    points = forms.IntegerField(label="Number of points", required=False)
    map_points = MapPointsField()


def map_page(request: HttpRequest) -> HttpResponse:
    form = MapLineForm(request.POST or None, prefix="line-0")
    saved = form.cleaned_data["map_points"] if request.method == "POST" and form.is_valid() else None
    context = {"line": form, "saved": saved, "vial_volume": request.GET.get("vial_volume", "")}
    return HttpResponse(TEMPLATE.render(context, request))


urlpatterns = [path("test/injection-map/", map_page, name="test_injection_map"), *site_urlpatterns]
