"""Locust scenario for benchmarks/load_bench.py (issue 21): the clinic's three roles at work.

Each simulated user signs in through the real form and then reads the pages their role lives
on, with a think time of 1–4 s between clicks (staff at a desk, not a script):

- front desk (half the users): today, the calendar, the patient list and a search, a patient,
  the due list, the Texts inbox;
- practitioners (a third): today, a patient's timeline, a session, the stock overview;
- managers (the rest): the dashboard, stock overview, lots, compliance, reports, audit trail.

Pages are named by route (``/treatments/patients/[id]/``), so the figures are per page kind.
The ids it opens come from ``LOAD_IDS`` (a JSON file load_bench.py writes).
"""

from __future__ import annotations

import json
import os
import random
import re

from locust import HttpUser, between, task

PASSWORD = os.environ.get("LOAD_PASSWORD", "load-test-2026")
IDS = json.loads(open(os.environ["LOAD_IDS"]).read()) if os.environ.get("LOAD_IDS") else {}  # noqa: SIM115
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SURNAMES = ["smi", "jon", "wil", "bro", "tay", "dav", "eva", "tho", "joh", "rob"]


class ClinicUser(HttpUser):
    abstract = True
    wait_time = between(1, 4)
    username = ""

    def on_start(self) -> None:
        # Trust exactly the stack's self-signed certificate (load_bench.py passes its path).
        self.client.verify = os.environ.get("LOAD_CA", True)
        page = self.client.get("/accounts/login/", name="/accounts/login/")
        token = CSRF.search(page.text)
        with self.client.post(
            "/accounts/login/",
            data={
                "username": self.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            headers={"Referer": f"{self.host}/accounts/login/"},
            name="/accounts/login/ (POST)",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"sign-in as {self.username} failed: {response.status_code}")

    def page(self, url: str, name: str | None = None) -> None:
        with self.client.get(url, name=name or url, catch_response=True, allow_redirects=False) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code} for {url}")


class FrontDesk(ClinicUser):
    weight = 3
    username = "load_desk"

    @task(3)
    def today(self) -> None:
        self.page("/treatments/today/")

    @task(3)
    def calendar(self) -> None:
        self.page("/treatments/calendar/")

    @task(2)
    def patients(self) -> None:
        self.page("/treatments/patients/")

    @task(3)
    def search(self) -> None:
        self.page(f"/treatments/patients/?q={random.choice(SURNAMES)}", name="/treatments/patients/?q=")

    @task(2)
    def patient(self) -> None:
        self.page(
            f"/treatments/patients/{random.choice(IDS['patients'])}/", name="/treatments/patients/[id]/"
        )

    @task(1)
    def due(self) -> None:
        self.page("/treatments/due/")

    @task(1)
    def inbox(self) -> None:
        self.page("/treatments/inbox/")


class Practitioner(ClinicUser):
    weight = 2
    username = "load_practitioner"

    @task(3)
    def today(self) -> None:
        self.page("/treatments/today/")

    @task(2)
    def timeline(self) -> None:
        pk = random.choice(IDS["patients"])
        self.page(f"/treatments/patients/{pk}/timeline/", name="/treatments/patients/[id]/timeline/")

    @task(2)
    def session(self) -> None:
        self.page(
            f"/treatments/sessions/{random.choice(IDS['sessions'])}/", name="/treatments/sessions/[id]/"
        )

    @task(1)
    def stock(self) -> None:
        self.page("/products/stock/")


class Manager(ClinicUser):
    weight = 1
    username = "bench_manager"

    @task(3)
    def dashboard(self) -> None:
        self.page("/")

    @task(2)
    def stock(self) -> None:
        self.page("/products/stock/")

    @task(2)
    def lots(self) -> None:
        self.page("/products/lots/")

    @task(1)
    def compliance(self) -> None:
        self.page("/products/compliance/")

    @task(1)
    def reports(self) -> None:
        self.page("/clinic/reports/")

    @task(1)
    def audit(self) -> None:
        self.page("/clinic/audit/")
