"""`manage.py restore DIR`: rebuild an empty database and storage from a backup, verified (clinic.backup)."""

from __future__ import annotations

from pathlib import Path

from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from clinic.audit import AuditAction, audit_record
from clinic.backup import BackupError, backup_restore, database_tables


class Command(BaseCommand):
    help = (
        "Restore a backup into an EMPTY database and EMPTY private storage. Every checksum is "
        "verified before, and every row count and file checksum after; any mismatch exits non-zero."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", help="The backup directory (the one holding manifest.json).")
        parser.add_argument(
            "--manifest-sha256",
            default="",
            help="The manifest's SHA-256 printed by `backup`: refuse a manifest that differs.",
        )

    def handle(self, *args, directory: str, manifest_sha256: str = "", **options) -> None:
        connection = connections["default"]
        database = connection.settings_dict
        # The restore writes through its own connections (pg_restore, sqlite3's backup API).
        connection.close()
        try:
            result = backup_restore(
                directory=Path(directory),
                database=database,
                storage=storages["private"],
                expect_sha256=manifest_sha256,
            )
        except BackupError as exc:
            self._audit_refusal(directory, str(exc))
            raise CommandError(str(exc)) from None
        connection.close()
        summary = result.summary()
        audit_record(
            actor=None,
            action=AuditAction.BACKUP_RESTORE,
            object_type="backup",
            object_repr=str(result.directory)[:200],
            after={**summary, "backup_created_at": result.manifest["created_at"]},
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {result.directory}: {summary['tables']} tables and {summary['rows']} rows, "
                f"{summary['files']} files; every checksum and row count equals the manifest."
            )
        )

    def _audit_refusal(self, directory: str, reason: str) -> None:
        """A refusal lands in the audit trail of the database it protected, when it has one."""
        try:
            tables = database_tables(connections["default"].settings_dict)
        except Exception:  # the database is down or unreadable: the refusal above says why
            return
        if not any(name.rsplit(".", 1)[-1] == "clinic_auditevent" for name in tables):
            return
        audit_record(
            actor=None,
            action=AuditAction.BACKUP_RESTORE_REFUSED,
            object_type="backup",
            object_repr=directory[:200],
            after={"reason": reason[:1000]},
        )
