"""Build (or top up) a believable demo clinic. Running it twice changes nothing."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from clinic import demo as clinic_demo
from clinic.models import Location
from products import demo as products_demo
from treatments import demo as treatments_demo
from treatments.photos import demo as photos_demo


class Command(BaseCommand):
    help = "Create demo locations, users, products, lots, patients and history."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--scale", type=int, default=0, help="Also add N patients with proportional history."
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the database already has data."
        )

    def handle(self, *args, scale: int = 0, if_empty: bool = False, **options) -> None:
        if scale < 0:
            raise CommandError("--scale must be zero or more.")
        if if_empty and Location.objects.exists():
            self.stdout.write("Database already has data; demo seeding skipped.")
            return
        started = time.monotonic()
        with transaction.atomic():
            locations, users = clinic_demo.seed(stdout=self.stdout)
            products_demo.seed(locations=locations, users=users, stdout=self.stdout)
            treatments_demo.seed(locations=locations, users=users, stdout=self.stdout)
            photos_demo.seed(locations=locations, users=users, stdout=self.stdout)
        if scale:
            products_demo.seed_scale(n=scale, locations=locations, users=users, stdout=self.stdout)
            treatments_demo.seed_scale(n=scale, locations=locations, users=users, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {time.monotonic() - started:.1f}s."))
