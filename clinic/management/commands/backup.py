"""`manage.py backup DIR`: a consistent database dump, the private files and a manifest (clinic.backup)."""

from __future__ import annotations

from pathlib import Path

from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from clinic.audit import AuditAction, audit_record
from clinic.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "Back up the database (one snapshot) and the private files into a new directory, with a manifest."

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", help="A new (or empty) directory to write the backup into.")

    def handle(self, *args, directory: str, **options) -> None:
        connection = connections["default"]
        try:
            result = backup_create(
                directory=Path(directory), database=connection.settings_dict, storage=storages["private"]
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        summary = result.summary()
        # After the snapshot, so the backup does not hold its own row; the row holds the manifest's hash.
        audit_record(
            actor=None,
            action=AuditAction.BACKUP_CREATE,
            object_type="backup",
            object_repr=str(result.directory)[:200],
            after=summary,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written to {result.directory}: {summary['vendor']}, {summary['tables']} tables, "
                f"{summary['rows']} rows, {summary['files']} files."
            )
        )
        self.stdout.write(f"Manifest SHA-256: {result.manifest_sha256} (keep it apart from the backup).")
