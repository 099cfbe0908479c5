"""Import data-logger CSV files, for cron or a scheduled job.

    manage.py import_logger_files --dir /srv/logger-drop --date-format iso
    manage.py import_logger_files --unit 3 --date-format dmy_min export.csv

With ``--dir``, each ``*.csv`` whose name starts with a storage unit's data-logger id goes
to that unit. A file already imported is skipped (its hash is recorded), so the job can run
as often as wanted. A file with a bad line is reported and nothing of it is imported.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from products.models import StorageUnit
from products.services import readings_import_csv
from products.services.readings import DATE_FORMATS


class Command(BaseCommand):
    help = "Import data-logger CSV files into storage units (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="*", help="CSV files (with --unit)")
        parser.add_argument("--unit", type=int, help="Storage unit id for the files given")
        parser.add_argument("--dir", help="Folder of <logger id>*.csv files")
        parser.add_argument("--date-format", required=True, choices=sorted(DATE_FORMATS))

    def handle(self, *args, files, unit, dir, date_format, **options) -> None:
        jobs: list[tuple[StorageUnit, Path]] = []
        if unit is not None:
            target = StorageUnit.objects.filter(pk=unit).first()
            if target is None:
                raise CommandError(f"No storage unit {unit}.")
            jobs += [(target, Path(f)) for f in files]
        elif files:
            raise CommandError("Give --unit for the files, or use --dir.")
        if dir:
            folder = Path(dir)
            if not folder.is_dir():
                raise CommandError(f"{folder} is not a folder.")
            units = list(StorageUnit.objects.filter(is_active=True).exclude(logger_id=""))
            for path in sorted(folder.glob("*.csv")):
                match = next((u for u in units if path.name.startswith(u.logger_id)), None)
                if match is None:
                    self.stderr.write(f"{path.name}: no storage unit has this logger id; skipped.")
                    continue
                jobs.append((match, path))
        failed = 0
        for target, path in jobs:
            try:
                result = readings_import_csv(
                    unit=target,
                    content=path.read_bytes(),
                    filename=path.name,
                    date_format=date_format,
                    actor=None,
                )
            except ValidationError as exc:
                failed += 1
                self.stderr.write(f"{path.name}: " + " ".join(exc.messages))
                continue
            except OSError as exc:
                failed += 1
                self.stderr.write(f"{path.name}: {exc}")
                continue
            if result.already_imported:
                self.stdout.write(f"{path.name}: already imported.")
            else:
                self.stdout.write(f"{path.name}: {result.added} readings added to {target}.")
        if failed:
            raise CommandError(f"{failed} file(s) could not be imported.")
