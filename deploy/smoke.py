"""Smoke test of the production stack `make prod-up` starts (deploy/stack.py).

Everything goes over HTTPS through nginx, as a clinic's staff would use it, on the demo
clinic: the desk registers a patient, the manager books them, the practitioner takes consent
and screening, charts the treatment and uploads a photo, which nginx serves through
X-Accel-Redirect. Then a reminder is sent by a Celery worker to the local SMTP sink.

Run it through `make prod-smoke` (which starts and stops the stack); on its own it needs a
running stack: `.venv/bin/python deploy/smoke.py`. Exits non-zero on the first failed check.
"""

from __future__ import annotations

import datetime as dt
import email
import io
import mailbox
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zoneinfo
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack

PASSWORD = "exosome-demo-2026"  # noqa: S105 - the demo clinic's published password
CHECKS: list[str] = []


def check(condition: object, what: str) -> None:
    if not condition:
        raise SystemExit(f"prod-smoke FAILED: {what}")
    CHECKS.append(what)
    print(f"  ok  {what}", flush=True)


def _no_redirect_opener() -> urllib.request.OpenerDirector:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    return urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=stack.tls_context()))


def http_checks(base: str) -> None:
    opener = _no_redirect_opener()
    try:
        opener.open(f"http://127.0.0.1:{stack.HTTP_PORT}/treatments/patients/", timeout=10)
        raise SystemExit("prod-smoke FAILED: plain HTTP answered instead of redirecting")
    except urllib.error.HTTPError as exc:
        check(exc.code == 301, "plain HTTP answers 301")
        check(exc.headers["Location"].startswith(f"https://127.0.0.1:{stack.HTTPS_PORT}/"), "... to HTTPS")
    with opener.open(f"{base}/healthz", timeout=10) as response:
        check(response.status == 200, "/healthz answers 200 over HTTPS")
        check("max-age=" in (response.headers["Strict-Transport-Security"] or ""), "HSTS on the site's pages")
    for path in ("/protected/", "/protected/photos/x.jpg", "/var/private/", "/media/"):
        try:
            opener.open(base + path, timeout=10)
            raise SystemExit(f"prod-smoke FAILED: {path} answered 200")
        except urllib.error.HTTPError as exc:
            check(exc.code in (302, 404), f"{path} is not public ({exc.code})")


def sign_in(page: Page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def lock_out_check(page: Page, base: str, tag: str) -> None:
    """Through nginx gunicorn sees no client address (a unix socket): the lock-out must key on
    the one nginx passes (X-Real-IP), or failures never add up. Five wrong passwords for a name
    of its own, then the sixth attempt is the lock-out page."""
    page.context.clear_cookies()
    username = f"smoke-nobody-{tag}"
    for _ in range(6):
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    check(
        "Too many failed sign-in attempts" in page.content(),
        "through nginx, repeated failed sign-ins from one address are locked out",
    )


def cookie_checks(page: Page) -> None:
    cookies = {c["name"]: c for c in page.context.cookies()}
    check("sessionid" in cookies, "signed in: a session cookie")
    check(
        cookies["sessionid"]["secure"] and cookies["sessionid"]["httpOnly"], "session cookie Secure, HttpOnly"
    )
    check(cookies["csrftoken"]["secure"], "CSRF cookie Secure")


def register_patient(page: Page, base: str, tag: str) -> tuple[str, str]:
    address = f"smoke-{tag}@patients.example"
    page.goto(f"{base}/treatments/patients/new/")
    page.get_by_label("First name").fill("Smoke")
    page.get_by_label("Last name").fill(f"Test {tag}")
    page.get_by_label("Date of birth").fill("1984-03-09")
    page.get_by_label("Email").fill(address)
    page.get_by_label("Reminder channel").select_option("email")
    page.get_by_label("Agrees to reminders").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/treatments/patients/*/")
    check("is registered" in page.locator(".messages").inner_text(), "the desk registers a patient")
    return page.url.rstrip("/").rsplit("/", 1)[1], address


def book(page: Page, base: str, patient_pk: str) -> str:
    """The manager books the patient with the demo practitioner at the first free quarter hour
    from 90 minutes on (a reminder goes only to a session at least an hour away)."""
    tz = zoneinfo.ZoneInfo(stack.TIME_ZONE)
    now = dt.datetime.now(tz)
    first = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=105 - now.minute % 15)
    for step in range(32):  # the demo practitioner's day is busy: up to eight hours on
        slot = first + dt.timedelta(minutes=15 * step)
        page.goto(f"{base}/treatments/sessions/new/?patient={patient_pk}")
        page.get_by_label("Practitioner").select_option(label="Dr Priya Shah")
        page.get_by_label("Date").fill(f"{slot:%Y-%m-%d}")
        page.get_by_label("Time").fill(f"{slot:%H:%M}")
        page.get_by_label("Duration").select_option("15")
        page.get_by_label("Treatment type").select_option("skin_quality")
        # Run at any hour: outside the demo's working hours the manager books anyway.
        page.get_by_label("Book outside working hours").check()
        page.get_by_role("button", name="Book", exact=True).click()
        page.wait_for_load_state()
        if page.locator(".messages").count() and "Booked Smoke" in page.locator(".messages").inner_text():
            check(True, f"the manager books {slot:%a %d %b %H:%M}")
            break
        if "already booked" not in page.locator("main").inner_text():
            raise SystemExit("prod-smoke FAILED: booking refused for another reason than a clash")
    else:
        raise SystemExit("prod-smoke FAILED: no free quarter hour for the practitioner in eight hours")
    page.goto(f"{base}/treatments/patients/{patient_pk}/")
    links = page.locator('a[href^="/treatments/sessions/"]').evaluate_all("els => els.map(e => e.pathname)")
    sessions = [m.group(1) for href in links if (m := re.fullmatch(r"/treatments/sessions/(\d+)/", href))]
    check(len(set(sessions)) == 1, "the patient's page lists the session")
    return sessions[0]


def _draw_signature(page: Page) -> None:
    pad = page.locator("canvas[data-signature-pad]")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 30, box["y"] + box["height"] * 0.7)
    page.mouse.down()
    for k in range(1, 12):
        y = box["y"] + box["height"] * (0.3 if k % 2 else 0.7)
        page.mouse.move(box["x"] + 30 + k * 25, y, steps=3)
    page.mouse.up()


def chart(page: Page, base: str, session_pk: str, tag: str) -> None:
    page.goto(f"{base}/treatments/sessions/{session_pk}/")
    page.get_by_role("link", name="Sign consent").click()
    page.wait_for_url("**/consents/new/**")
    page.get_by_label("Patient's full name, typed by the patient").fill(f"Smoke Test {tag}")
    page.get_by_label("The patient has read the consent text").check()
    page.get_by_label("Clinical photography").check()
    _draw_signature(page)
    page.get_by_role("button", name="Record signed consent").click()
    page.wait_for_url(f"**/treatments/sessions/{session_pk}/")
    check(True, "the practitioner records a signed consent (drawn signature)")
    page.get_by_role("link", name="Screening questionnaire").click()
    page.wait_for_url("**/screening/new/**")
    page.get_by_role("button", name="Record answers").click()
    page.wait_for_url(f"**/treatments/sessions/{session_pk}/")
    check("No contraindication" in page.locator("#clinical").inner_text(), "screening recorded")
    page.get_by_role("button", name=f"Start treatment of Smoke Test {tag}").click()
    page.wait_for_load_state()
    page.get_by_role("link", name="Chart treatment").click()
    page.wait_for_url(f"**/treatments/sessions/{session_pk}/record/")
    page.get_by_label("Screening confirmed with the patient at this visit").check()
    page.get_by_label("Signed consent for this treatment checked").check()
    page.locator("#id_line-0-vials").fill("1")
    page.locator("#id_line-0-route").select_option(index=1)
    page.locator("#id_line-0-areas_0").check()
    page.get_by_role("button", name="Save treatment record").click()
    page.wait_for_url("**/treatments/records/*/")
    check(
        "Treatment record saved" in page.locator(".messages").inner_text(), "the practitioner charts a vial"
    )


def photo_bytes() -> bytes:
    image = Image.new("RGB", (900, 1200), (224, 182, 160))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        draw.ellipse((100 + i * 50, 400, 124 + i * 50, 424), fill=(200, 70, 70))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def photo(page: Page, base: str, session_pk: str) -> None:
    page.goto(f"{base}/treatments/photos/sessions/{session_pk}/upload/")
    page.get_by_label("Photos", exact=True).set_input_files(
        [{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": photo_bytes()}]
    )
    page.locator("#view-0").wait_for()
    page.get_by_role("button", name="Upload photos").click()
    page.wait_for_url("**/treatments/photos/patients/**")
    check("Saved 1 photo" in page.locator(".messages").inner_text(), "the practitioner uploads a photo")
    src = page.locator(".photo-grid img").first.get_attribute("src")
    check(
        src and src.startswith("/treatments/photos/") and "/protected/" not in src, "photo URL is the view's"
    )
    response = page.request.get(base + src)
    check(response.status == 200, "the photo is served to the practitioner")
    check(response.headers.get("x-private-file") == "nginx", "... by nginx, through X-Accel-Redirect")
    check(response.headers.get("content-type") == "image/jpeg", "... as image/jpeg")
    check("no-store" in response.headers.get("cache-control", ""), "... never cached")
    check(response.headers.get("x-content-type-options") == "nosniff", "... never sniffed")
    check(Image.open(io.BytesIO(response.body())).format == "JPEG", "... and is a JPEG")
    page.context.clear_cookies()
    anonymous = page.request.get(base + src, max_redirects=0)
    check(anonymous.status == 302, "signed out, the same photo URL sends to sign-in")


def ask_for_reminders() -> None:
    """Have a worker run the appointment-reminder sweep now (through the broker), rather than
    wait up to 15 minutes for beat."""
    subprocess.run(  # noqa: S603 - fixed arguments
        [stack.BIN / "celery", "-A", "clinic", "call", "treatments.tasks.appointment_reminders"],
        cwd=stack.BASE,
        env=stack.process_env(),
        check=True,
        capture_output=True,
    )


def reminder_delivered(address: str, timeout: float = 120.0) -> None:
    """Wait for the patient's reminder to reach the SMTP sink, sent by a worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        box = mailbox.Maildir(stack.MAILDIR, create=True)
        for key in box.iterkeys():
            message = email.message_from_bytes(box.get_bytes(key))
            # The booking's intake link goes to the same address; this is the reminder.
            if address in (message["To"] or "") and "appointment" in (message["Subject"] or "").lower():
                check(True, f"a worker delivered the reminder to the SMTP sink ({message['Subject']})")
                return
        time.sleep(2)
    raise SystemExit(f"prod-smoke FAILED: no reminder to {address} reached the SMTP sink in {timeout:.0f} s")


def workers_up() -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [stack.BIN / "celery", "-A", "clinic", "inspect", "ping", "--timeout", "5"],
        cwd=stack.BASE,
        env=stack.process_env(),
        capture_output=True,
        text=True,
    )
    check("worker-a@" in result.stdout and "worker-b@" in result.stdout, "two Celery workers answer, by name")


def main() -> int:
    base = stack.BASE_URL
    tag = uuid.uuid4().hex[:6]
    print(f"prod-smoke against {base}", flush=True)
    http_checks(base)
    workers_up()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=["--no-sandbox"]
        )
        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            lock_out_check(page, base, tag)
            sign_in(page, base, "frontdesk")
            cookie_checks(page)
            patient_pk, address = register_patient(page, base, tag)
            sign_in(page, base, "manager")
            session_pk = book(page, base, patient_pk)
            ask_for_reminders()
            sign_in(page, base, "practitioner")
            chart(page, base, session_pk, tag)
            photo(page, base, session_pk)
        except Exception:
            # What the page showed when a step failed: the first thing to read in CI's log.
            (stack.RUN / "smoke-failure.html").write_text(page.content())
            print(f"prod-smoke: the page at {page.url} when it failed:", file=sys.stderr)
            print(page.locator("main").inner_text(timeout=2000)[:3000], file=sys.stderr)
            raise
        finally:
            browser.close()
    reminder_delivered(address)
    print(f"prod-smoke passed: {len(CHECKS)} checks", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
