"""Subject-access export benchmark (issue 18): a patient with 100 sessions and 200 photos.

Run from the repository root (PostgreSQL must be reachable):

    .venv/bin/python benchmarks/rights_bench.py

It creates ``bench_rights`` if missing, migrates it, loads the demo staff and locations, and
builds one patient with 100 sessions and 200 photos (each photo a real 2048 px JPEG file in
private storage, about as large as the pipeline's full rendition). Then, in the same run:

1. **the export**: a manager's POST to ``treatments:patient_export`` through Django's test
   client, the streamed ZIP written to a temporary file as a browser would — wall time and
   the peak of Python memory (tracemalloc) while it streams;
2. **the floor**: the same photo files read from storage and written into a ZIP with the
   standard library alone (no queries, no JSON, no HTML, no Django), the least any export of
   those files could cost.

Targets: the export within 60 s, its peak memory under 32 MB while the archive is many
times larger (memory does not grow with the files), and the ratio to the floor printed.
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import sys
import tempfile
import time
import tracemalloc
import zipfile

from _setup import configure, ensure_database  # benchmarks/ is on sys.path as a script

configure("rights")

SESSIONS = 100
PHOTOS = 200
GOAL_SECONDS = 60.0
GOAL_PEAK_MB = 32.0


def camera_jpeg() -> bytes:
    from PIL import Image

    base = Image.linear_gradient("L").resize((2048, 1536)).convert("RGB")
    noise = Image.effect_noise((2048, 1536), 40).convert("RGB")
    buffer = io.BytesIO()
    Image.blend(base, noise, 0.3).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def load():
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages
    from django.core.management import call_command
    from django.utils import timezone

    from clinic import demo as clinic_demo
    from treatments.demo import at_local, demo_session
    from treatments.models import Patient, Session, SessionStatus
    from treatments.photos.models import Photo

    call_command("migrate", verbosity=0)
    locations, users = clinic_demo.seed(stdout=io.StringIO())
    patient = Patient.objects.filter(first_name="Bench", last_name="Export").first()
    if patient is None:
        patient = Patient.objects.create(
            location=locations["marylebone"],
            first_name="Bench",
            last_name="Export",
            date_of_birth=dt.date(1980, 5, 17),
            email="bench.export@example.com",
        )
    today = timezone.localdate()
    missing = SESSIONS - Session.objects.filter(patient=patient).count()
    Session.objects.bulk_create(
        demo_session(
            patient,
            users["practitioner"],
            None,
            at_local(today - dt.timedelta(days=7 * (i + 1)), 10),
            status=SessionStatus.COMPLETED,
            treatment_type="skin_quality",
        )
        for i in range(missing)
    )
    sessions = list(Session.objects.filter(patient=patient).order_by("pk"))
    storage = storages["private"]
    have = Photo.objects.filter(patient=patient).count()
    if have < PHOTOS:
        data = camera_jpeg()
        rows = []
        for i in range(have, PHOTOS):
            name = storage.save(f"bench/photo-{i}.jpg", ContentFile(data))
            rows.append(
                Photo(
                    patient=patient,
                    session=sessions[i % len(sessions)],
                    location=patient.location,
                    tag="before" if i % 2 else "after",
                    view="front",
                    taken_by=users["practitioner"],
                    **{
                        f"{r}_{f}": v
                        for r in ("full", "display", "thumb")
                        for f, v in (("name", name), ("sha256", "0" * 64), ("size", len(data)))
                    },
                    **{
                        f"{r}_{d}": v
                        for r in ("full", "display", "thumb")
                        for d, v in (("width", 2048), ("height", 1536))
                    },
                    source_format="jpeg",
                    source_width=2048,
                    source_height=1536,
                )
            )
        Photo.objects.bulk_create(rows)
    return patient, users


def floor(names: list[str], out_path: str) -> float:
    """The same files into a ZIP with the standard library alone."""
    from django.core.files.storage import storages

    storage = storages["private"]
    t0 = time.perf_counter()
    with open(out_path, "wb") as out, zipfile.ZipFile(out, "w") as archive:
        for i, name in enumerate(names):
            with storage.open(name, "rb") as source, archive.open(f"photos/{i}.jpg", "w") as dst:
                while chunk := source.read(64 * 1024):
                    dst.write(chunk)
    return time.perf_counter() - t0


def main() -> int:
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from treatments.photos.models import Photo

    setup_test_environment()
    patient, users = load()
    client = Client()
    client.force_login(users["manager"])
    url = reverse("treatments:patient_export", args=[patient.pk])
    names = list(Photo.objects.filter(patient=patient).order_by("pk").values_list("full_name", flat=True))
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        export_path, floor_path = os.path.join(tmp, "export.zip"), os.path.join(tmp, "floor.zip")
        floor_seconds = floor(names, floor_path)
        tracemalloc.start()
        t0 = time.perf_counter()
        response = client.post(url)
        assert response.status_code == 200, response.status_code
        with open(export_path, "wb") as out:
            for chunk in response.streaming_content:
                out.write(chunk)
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size_mb = os.path.getsize(export_path) / 1e6
        with zipfile.ZipFile(export_path) as archive:
            members = archive.namelist()
        photos_in = sum(1 for n in members if n.startswith("photos/"))
        peak_mb = peak / 1e6
        print(f"\nsubject-access export: {SESSIONS} sessions, {PHOTOS} photos ({size_mb:.0f} MB archive)")
        print(f"  export (POST, streamed to a file) {seconds:8.2f} s   peak Python memory {peak_mb:6.1f} MB")
        print(f"  floor (stdlib zipfile, same files) {floor_seconds:7.2f} s")
        print(f"  ratio export / floor              {seconds / floor_seconds:8.2f}×")
        if photos_in != PHOTOS:
            failures.append(f"{photos_in} photos in the archive, expected {PHOTOS}")
        if seconds > GOAL_SECONDS:
            failures.append(f"export took {seconds:.1f} s > {GOAL_SECONDS} s")
        if peak_mb > GOAL_PEAK_MB:
            failures.append(f"peak memory {peak_mb:.1f} MB > {GOAL_PEAK_MB} MB")
    for failure in failures:
        print("MISSED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
