"""manage.py backup / restore (clinic.backup): a round trip on the suite's database vendor, refusals.

The round trips restore into a database and storage created by the test: a SQLite file under
tmp_path, or a fresh PostgreSQL database ``h_ops21_restore_<random>`` dropped at the end.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from clinic.audit import AuditAction
from clinic.backup import BackupError, backup_create, backup_restore, database_tables
from clinic.models import AuditEvent, Location
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def source_storage(tmp_path, settings):
    """The private storage pointed at a directory of this test, holding two files."""
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "clinic.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "source-files"), "base_url": None},
        },
    }
    storage = storages["private"]
    storage.save("photos/2026/12/a1b2.png", ContentFile(PNG))
    storage.save("documents/coa.pdf", ContentFile(b"%PDF-1.7 certificate"))
    return storage


@pytest.fixture
def data():
    LocationFactory(name="Backup site", code="backup-site")
    LocationFactory(name="Second site", code="second-site")


@pytest.fixture
def target_database(tmp_path):
    """An empty database of the suite's vendor, as a settings dict; dropped afterwards."""
    source = connection.settings_dict
    if connection.vendor == "sqlite":
        yield {**source, "NAME": str(tmp_path / "restored.sqlite3")}
        return
    import psycopg

    from clinic.backup import pg_conninfo

    name = f"h_ops21_restore_{uuid.uuid4().hex[:8]}"
    admin = pg_conninfo({**source, "NAME": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**source, "NAME": name}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _round_trip(tmp_path: Path, source_storage, target_database) -> None:
    backup = backup_create(
        directory=tmp_path / "backup", database=connection.settings_dict, storage=source_storage
    )
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["database"]["vendor"] == connection.vendor
    assert {f["name"] for f in manifest["files"]} == {"photos/2026/12/a1b2.png", "documents/coa.pdf"}
    location_table = next(t for t in manifest["tables"] if t.rsplit(".", 1)[-1] == "clinic_location")
    assert manifest["tables"][location_table] == Location.objects.count() == 2
    assert len(manifest["app_version"]) > 0 and manifest["created_at"]

    restored_storage = FileSystemStorage(location=tmp_path / "restored-files")
    result = backup_restore(directory=tmp_path / "backup", database=target_database, storage=restored_storage)
    assert result.manifest_sha256 == backup.manifest_sha256
    assert database_tables(target_database) == manifest["tables"]
    with restored_storage.open("photos/2026/12/a1b2.png", "rb") as fh:
        assert fh.read() == PNG

    # A second restore into what is now a full database is refused.
    with pytest.raises(BackupError, match="is not empty"):
        backup_restore(
            directory=tmp_path / "backup",
            database=target_database,
            storage=FileSystemStorage(location=tmp_path / "third"),
        )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite round trip")
def test_a_sqlite_backup_restores_with_every_count_and_checksum(
    tmp_path, data, source_storage, target_database
):
    _round_trip(tmp_path, source_storage, target_database)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_dump/pg_restore need PostgreSQL")
def test_a_postgresql_backup_restores_into_a_fresh_database(tmp_path, data, source_storage, target_database):
    assert target_database["NAME"].startswith("h_ops21_restore_")
    _round_trip(tmp_path, source_storage, target_database)


def test_the_commands_write_audit_rows_and_refuse_a_full_database(tmp_path, data, source_storage):
    call_command("backup", str(tmp_path / "backup"))
    event = AuditEvent.objects.get(action=AuditAction.BACKUP_CREATE)
    assert event.after["files"] == 2 and len(event.after["manifest_sha256"]) == 64

    # The suite's own database is not empty: the restore refuses it, and says so in its audit trail.
    with pytest.raises(CommandError, match=r"not empty.*new, empty database"):
        call_command("restore", str(tmp_path / "backup"))
    assert AuditEvent.objects.filter(action=AuditAction.BACKUP_RESTORE_REFUSED).count() == 1

    with pytest.raises(CommandError, match="not empty"):
        call_command("backup", str(tmp_path / "backup"))


def test_a_tampered_backup_is_refused_before_anything_is_written(
    tmp_path, data, source_storage, target_database
):
    backup_create(directory=tmp_path / "backup", database=connection.settings_dict, storage=source_storage)
    photo = tmp_path / "backup" / "files" / "photos" / "2026" / "12" / "a1b2.png"
    photo.write_bytes(photo.read_bytes()[:-1] + b"!")
    (tmp_path / "backup" / "files" / "extra.txt").write_text("slipped in")
    restored = FileSystemStorage(location=tmp_path / "restored-files")
    with pytest.raises(BackupError) as refused:
        backup_restore(directory=tmp_path / "backup", database=target_database, storage=restored)
    assert "files/photos/2026/12/a1b2.png: checksum differs" in str(refused.value)
    assert "files/extra.txt: not in the manifest" in str(refused.value)
    assert database_tables(target_database) == {}
    assert not (tmp_path / "restored-files").exists()


def test_a_manifest_other_than_the_printed_one_is_refused(tmp_path, data, source_storage, target_database):
    result = backup_create(
        directory=tmp_path / "backup", database=connection.settings_dict, storage=source_storage
    )
    with pytest.raises(BackupError, match="not the expected"):
        backup_restore(
            directory=tmp_path / "backup",
            database=target_database,
            storage=FileSystemStorage(location=tmp_path / "r"),
            expect_sha256="0" * 64,
        )
    assert len(result.manifest_sha256) == 64


def test_counts_that_differ_after_restoring_fail_the_restore(tmp_path, data, source_storage, target_database):
    backup_create(directory=tmp_path / "backup", database=connection.settings_dict, storage=source_storage)
    path = tmp_path / "backup" / "manifest.json"
    manifest = json.loads(path.read_text())
    table = next(t for t in manifest["tables"] if t.rsplit(".", 1)[-1] == "clinic_location")
    manifest["tables"][table] = 3
    path.write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match=f"table {table}: 2 rows restored, the manifest says 3"):
        backup_restore(
            directory=tmp_path / "backup",
            database=target_database,
            storage=FileSystemStorage(location=tmp_path / "r"),
        )


def test_a_non_empty_storage_is_refused(tmp_path, data, source_storage, target_database):
    backup_create(directory=tmp_path / "backup", database=connection.settings_dict, storage=source_storage)
    full = FileSystemStorage(location=tmp_path / "full")
    full.save("left-over.png", ContentFile(b"x"))
    with pytest.raises(BackupError, match="storage is not empty"):
        backup_restore(directory=tmp_path / "backup", database=target_database, storage=full)
    assert database_tables(target_database) == {}


def test_a_manifest_naming_a_file_outside_the_backup_is_refused(
    tmp_path, data, source_storage, target_database
):
    backup_create(directory=tmp_path / "backup", database=connection.settings_dict, storage=source_storage)
    path = tmp_path / "backup" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"][0]["name"] = "../../etc/passwd"
    path.write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="outside the backup"):
        backup_restore(
            directory=tmp_path / "backup",
            database=target_database,
            storage=FileSystemStorage(location=tmp_path / "r"),
        )


def _edit_manifest(tmp_path: Path, change) -> None:
    path = tmp_path / "backup" / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _restore_refused(tmp_path: Path, target_database, match: str) -> None:
    with pytest.raises(BackupError, match=match):
        backup_restore(
            directory=tmp_path / "backup",
            database=target_database,
            storage=FileSystemStorage(location=tmp_path / "r"),
        )
    assert database_tables(target_database) == {}
    assert not (tmp_path / "r").exists()


def test_the_backup_is_readable_by_its_owner_alone(tmp_path, data, source_storage):
    backup_create(directory=tmp_path / "backup", database=connection.settings_dict, storage=source_storage)
    assert (tmp_path / "backup").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.pop("tables"), "no table counts"),
        (lambda m: m["database"].pop("sha256"), "lacks its SHA-256"),
        (lambda m: m["files"].append(dict(m["files"][0])), "is listed twice"),
        (lambda m: m["files"][0].update(size="12"), "file entry 1 lacks"),
    ],
    ids=["no-tables", "no-dump-checksum", "a-file-twice", "a-size-as-text"],
)
def test_a_damaged_manifest_is_refused_before_anything_is_written(
    tmp_path, data, source_storage, target_database, change, match
):
    backup_create(directory=tmp_path / "backup", database=connection.settings_dict, storage=source_storage)
    _edit_manifest(tmp_path, change)
    _restore_refused(tmp_path, target_database, match)


def test_a_symbolic_link_in_the_backup_is_refused(tmp_path, data, source_storage, target_database):
    """A link with a matching manifest entry would copy any file of the machine into the
    restored storage."""
    backup_create(directory=tmp_path / "backup", database=connection.settings_dict, storage=source_storage)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not the clinic's")
    photo = tmp_path / "backup" / "files" / "documents" / "coa.pdf"
    photo.unlink()
    photo.symlink_to(secret)
    import hashlib

    def point_at_secret(manifest):
        entry = next(f for f in manifest["files"] if f["name"] == "documents/coa.pdf")
        entry.update(sha256=hashlib.sha256(secret.read_bytes()).hexdigest(), size=secret.stat().st_size)

    _edit_manifest(tmp_path, point_at_secret)
    _restore_refused(tmp_path, target_database, "documents/coa.pdf: a symbolic link")


def test_a_backup_reached_through_a_link_restores(tmp_path, data, source_storage, target_database):
    backup_create(directory=tmp_path / "real", database=connection.settings_dict, storage=source_storage)
    (tmp_path / "backup").symlink_to(tmp_path / "real")
    result = backup_restore(
        directory=tmp_path / "backup",
        database=target_database,
        storage=FileSystemStorage(location=tmp_path / "r"),
    )
    assert len(result.checked) == 3
