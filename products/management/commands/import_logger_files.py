"""Import data-logger export files, for cron or a scheduled job.

    manage.py import_logger_files --dir /srv/logger-drop
    manage.py import_logger_files --unit 3 export.csv
    manage.py import_logger_files --unit 3 --date-format mdy --temperature-unit F us-export.csv

The layout, separator, encoding, date format and °C/°F are read from each file; a file that
does not tell (every day ≤ 12, or no unit anywhere) is kept as pending and reported, to be
answered with ``--date-format``/``--temperature-unit`` or on its page in the site. Times
without a zone are read in the unit's logger clock.

With ``--dir``, each ``*.csv``/``*.txt`` whose name starts with a storage unit's data-logger id
goes to that unit. A file already imported is skipped (its hash is recorded), so the job can
run as often as wanted. A file with a bad line is refused as a whole and each bad line
reported; the summary of every file accounts for each of its lines.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from products.models import ImportChannel, ImportStatus, StorageUnit
from products.services import readings_import_file


class Command(BaseCommand):
    help = "Import data-logger files into storage units (idempotent; formats detected)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="*", help="Logger files (with --unit)")
        parser.add_argument("--unit", type=int, help="Storage unit id for the files given")
        parser.add_argument("--dir", help="Folder of <logger id>*.csv / *.txt files")
        parser.add_argument(
            "--date-format",
            choices=["dmy", "mdy"],
            help="Only for files whose dates read both ways: dmy (day first) or mdy (month first)",
        )
        parser.add_argument("--temperature-unit", choices=["C", "F"], help="Only for files that do not say")

    def handle(self, *args, files, unit, dir, date_format, temperature_unit, **options) -> None:
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
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".csv", ".txt"))
            for path in paths:
                # The longest logger id the name starts with, followed by a separator (or the
                # end): unit "A1" does not take "A12-2026-03.csv".
                matches = [
                    u
                    for u in units
                    if path.name.startswith(u.logger_id)
                    and not path.name[len(u.logger_id) : len(u.logger_id) + 1].isalnum()
                ]
                match = max(matches, key=lambda u: len(u.logger_id), default=None)
                if match is None:
                    self.stderr.write(f"{path.name}: no storage unit has this logger id; skipped.")
                    continue
                jobs.append((match, path))
        answers = {
            k: v for k, v in (("date_format", date_format), ("temperature_unit", temperature_unit)) if v
        }
        failed = 0
        for target, path in jobs:
            try:
                with path.open("rb") as f:
                    result = readings_import_file(
                        unit=target, file=f, filename=path.name, actor=None,
                        channel=ImportChannel.COMMAND, answers=answers,
                    )  # fmt: skip
            except OSError as exc:
                failed += 1
                self.stderr.write(f"{path.name}: {exc}")
                continue
            except Exception as exc:  # one bad file must not stop a cron run's other files
                failed += 1
                self.stderr.write(
                    f"{path.name}: not imported, unexpected error ({type(exc).__name__}: {exc})."
                )
                continue
            batch = result.batch
            if result.already_imported:
                self.stdout.write(f"{path.name}: already imported on {batch.imported_at:%Y-%m-%d}.")
            elif batch.status == ImportStatus.IMPORTED:
                self.stdout.write(
                    f"{path.name}: {batch.lines} lines: {batch.added} readings added to {target}, "
                    f"{batch.already_held} already held, {batch.skipped} preamble/header/blank lines."
                )
            elif batch.status == ImportStatus.PENDING:
                failed += 1
                for q in result.questions:
                    options = ", ".join(f"{k} = {v}" for k, v in q["choices"].items())
                    flag = "--date-format" if q["key"] == "date_format" else "--temperature-unit"
                    self.stderr.write(
                        f"{path.name}: {q['prompt']} Line {q['line']} reads “{q['text']}”: {options}. "
                        f"Give {flag}, or answer on the import's page."
                    )
            else:
                failed += 1
                self.stderr.write(f"{path.name}: nothing imported; {batch.refused} line(s) refused:")
                for note in batch.summary.get("refused_lines", []):
                    self.stderr.write(f"  line {note['line']}: {note['reason']}")
        if failed:
            raise CommandError(f"{failed} file(s) could not be imported.")
