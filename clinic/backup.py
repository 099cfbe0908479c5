"""Backups that restore: one consistent copy of the database, every private file, and a manifest.

A backup is a directory::

    manifest.json        what the rest must be: SHA-256 and size of every file, rows per table
    database.dump        PostgreSQL: ``pg_dump --format=custom`` (or database.sqlite3 for SQLite)
    files/<name>         each object of ``storages["private"]`` under its own name

Consistency. PostgreSQL: one REPEATABLE READ transaction exports its snapshot
(``pg_export_snapshot()``), counts the rows of every table in it and hands it to
``pg_dump --snapshot``, so the dump and the counts are the same instant. SQLite: the backup API
copies the database in one step (no writer in between), and the counts are read from the copy.
Private files are copied after the database: their names are chosen by the server and never
reused, so a file written meanwhile is one no row of the dump points to yet (harmless), and a
file the dump points to is already in storage.

Files are read and written through Django's storage API (``listdir``/``open``/``save``/``exists``),
never through paths, so the same code backs up a local directory or an S3 bucket.

``backup_create`` and ``backup_restore`` take the database's settings dict and a storage; the
``backup`` and ``restore`` management commands pass the project's own and write the audit rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage

FORMAT = "exosome-clinic-backup/1"
MANIFEST = "manifest.json"
FILES_DIR = "files"
DUMP_NAMES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that must stop; the message says what to do."""


@dataclass
class Result:
    """What a backup or restore did, for the command's output and its audit row."""

    directory: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    checked: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "manifest_sha256": self.manifest_sha256,
            "vendor": self.manifest["database"]["vendor"],
            "tables": len(self.manifest["tables"]),
            "rows": sum(self.manifest["tables"].values()),
            "files": len(self.manifest["files"]),
            "app_version": self.manifest["app_version"],
        }


# --- Helpers ---------------------------------------------------------------------------------


def sha256_of(fh: Any) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _sha256_path(path: Path) -> tuple[str, int]:
    with path.open("rb") as fh:
        return sha256_of(fh)


def app_version() -> str:
    """APP_VERSION from the environment (a deployment without .git), else the git commit."""
    if version := os.environ.get("APP_VERSION"):
        return version
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def vendor_of(database: Mapping[str, Any]) -> str:
    engine = database["ENGINE"]
    if engine.endswith("postgresql"):
        return "postgresql"
    if engine.endswith("sqlite3"):
        return "sqlite"
    raise BackupError(f"Backups support PostgreSQL and SQLite, not {engine}.")


def storage_names(storage: Storage, path: str = "") -> Iterator[str]:
    """Every object in the storage, walked with ``listdir`` (sorted, so manifests compare)."""
    try:
        dirs, files = storage.listdir(path)
    except FileNotFoundError:  # a local storage whose directory does not exist yet: empty
        return
    for name in sorted(files):
        yield f"{path}/{name}" if path else name
    for name in sorted(dirs):
        yield from storage_names(storage, f"{path}/{name}" if path else name)


def _safe_name(name: str) -> str:
    """A manifest's file name, refused if it could escape the backup or storage directory."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name or "\x00" in name:
        raise BackupError(f"The manifest names a file outside the backup: {name!r}. Refusing it.")
    return name


# --- PostgreSQL --------------------------------------------------------------------------------


def pg_conninfo(database: Mapping[str, Any], *, password: bool = True) -> str:
    from psycopg.conninfo import make_conninfo

    params = {
        "dbname": database["NAME"],
        "user": database.get("USER") or None,
        "host": database.get("HOST") or None,
        "port": str(database["PORT"]) if database.get("PORT") else None,
    }
    if password and database.get("PASSWORD"):
        params["password"] = database["PASSWORD"]
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def _pg_env(database: Mapping[str, Any]) -> dict[str, str]:
    # The password goes to pg_dump/pg_restore in the environment, never on the command line.
    env = dict(os.environ)
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])
    return env


_PG_TABLES = (
    "SELECT schemaname, tablename FROM pg_tables "
    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
)


def _pg_counts(cursor: Any) -> dict[str, int]:
    from psycopg import sql

    cursor.execute(_PG_TABLES)
    counts = {}
    for schema, table in cursor.fetchall():
        cursor.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        )
        counts[f"{schema}.{table}"] = cursor.fetchone()[0]
    return counts


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    try:
        # pg_dump/pg_restore from PATH with arguments built here (no shell).
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise BackupError(
            f"{command[0]} is not installed: install the PostgreSQL client "
            "(apt-get install postgresql-client)."
        ) from None
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def _pg_dump(database: Mapping[str, Any], target: Path) -> tuple[dict[str, int], str]:
    """Dump and count rows in one exported snapshot. Returns the counts and the server version."""
    import psycopg

    with _pg_connect(database) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cursor.fetchone()
            counts = _pg_counts(cursor)
            # The snapshot lives as long as this transaction: pg_dump runs while it is open.
            _run(
                [
                    "pg_dump",
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    f"--dbname={pg_conninfo(database, password=False)}",
                ],
                _pg_env(database),
                "pg_dump",
            )
        conn.rollback()
    return counts, server_version


def _pg_connect(database: Mapping[str, Any]) -> Any:
    import psycopg

    try:
        return psycopg.connect(pg_conninfo(database), connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise BackupError(
            f"Cannot connect to the database {database['NAME']} ({str(exc).strip()}); create it first "
            "(createdb) or check DATABASE_URL."
        ) from None


def _pg_tables(database: Mapping[str, Any]) -> dict[str, int]:
    import psycopg

    with _pg_connect(database) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.cursor() as cursor:
            return _pg_counts(cursor)


def _pg_restore(database: Mapping[str, Any], dump: Path) -> None:
    _run(
        [
            "pg_restore",
            "--exit-on-error",
            "--single-transaction",
            # The target may belong to another role than the source did.
            "--no-owner",
            "--no-privileges",
            f"--dbname={pg_conninfo(database, password=False)}",
            str(dump),
        ],
        _pg_env(database),
        "pg_restore",
    )


# --- SQLite ------------------------------------------------------------------------------------

_SQLITE_TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
)


def _sqlite_counts(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [row[0] for row in conn.execute(_SQLITE_TABLES)]
        # Names read from sqlite_master, quoted (a double quote in one is doubled).
        quoted = {name: '"' + name.replace('"', '""') + '"' for name in names}
        return {
            name: conn.execute(f"SELECT count(*) FROM {q}").fetchone()[0]  # noqa: S608
            for name, q in quoted.items()
        }
    finally:
        conn.close()


def _sqlite_copy(source: Path, target: Path) -> None:
    """sqlite3's online backup in one step: a consistent copy even while the site writes."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


# --- Backup ------------------------------------------------------------------------------------


def backup_create(*, directory: Path, database: Mapping[str, Any], storage: Storage) -> Result:
    """Write a backup of ``database`` and ``storage`` into ``directory`` (new or empty)."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty; give a new directory for each backup.")
    vendor = vendor_of(database)
    directory.mkdir(parents=True, exist_ok=True)
    # Patient records, photos and password hashes: the owner's alone (whatever the umask), and
    # everything written below is reached only through this directory.
    directory.chmod(0o700)
    started = dt.datetime.now(dt.UTC)
    dump = directory / DUMP_NAMES[vendor]
    if vendor == "postgresql":
        tables, server_version = _pg_dump(database, dump)
    else:
        _sqlite_copy(Path(database["NAME"]), dump)
        tables, server_version = _sqlite_counts(dump), sqlite3.sqlite_version
    dump_sha, dump_size = _sha256_path(dump)

    files = []
    for name in storage_names(storage):
        target = directory / FILES_DIR / _safe_name(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with storage.open(name, "rb") as src, target.open("wb") as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        files.append({"name": name, "sha256": digest.hexdigest(), "size": size})

    manifest = {
        "format": FORMAT,
        "created_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "app_version": app_version(),
        "database": {
            "vendor": vendor,
            "server_version": server_version,
            "file": dump.name,
            "sha256": dump_sha,
            "size": dump_size,
        },
        "tables": tables,
        "files": files,
    }
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    # Written last and renamed into place: a directory without a manifest is no backup.
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_bytes(body)
    tmp.replace(directory / MANIFEST)
    return Result(directory, manifest, hashlib.sha256(body).hexdigest())


# --- Restore -----------------------------------------------------------------------------------


def read_manifest(directory: Path, *, expect_sha256: str = "") -> tuple[dict[str, Any], str]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise BackupError(f"{path} does not exist: {directory} is no complete backup.")
    body = path.read_bytes()
    sha = hashlib.sha256(body).hexdigest()
    if expect_sha256 and sha != expect_sha256.lower():
        raise BackupError(f"The manifest's SHA-256 is {sha}, not the expected {expect_sha256}: refusing it.")
    try:
        manifest = json.loads(body)
    except ValueError as exc:
        raise BackupError(f"The manifest is not valid JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"The manifest is not a {FORMAT} manifest.")
    _check_shape(manifest)
    return manifest, sha


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_shape(manifest: Mapping[str, Any]) -> None:
    """Every field the restore reads, of the right type, and no file listed twice: checked
    before anything is written, so a damaged manifest is a refusal, not half a restore."""
    problems = []
    db = manifest.get("database")
    if not isinstance(db, dict):
        problems.append("no database entry")
    else:
        if not isinstance(db.get("vendor"), str) or not isinstance(db.get("file"), str):
            problems.append("the database entry lacks its vendor or file")
        if not isinstance(db.get("sha256"), str) or not _SHA256.fullmatch(db["sha256"]):
            problems.append("the database entry lacks its SHA-256")
        if not _is_count(db.get("size")):
            problems.append("the database entry lacks its size")
    tables = manifest.get("tables")
    if not isinstance(tables, dict) or not all(
        isinstance(k, str) and _is_count(v) for k, v in tables.items()
    ):
        problems.append("no table counts (a table name and a row count each)")
    files = manifest.get("files")
    if not isinstance(files, list):
        problems.append("no file list")
    else:
        seen: set[str] = set()
        for i, entry in enumerate(files):
            ok = (
                isinstance(entry, dict)
                and isinstance(entry.get("name"), str)
                and isinstance(entry.get("sha256"), str)
                and bool(_SHA256.fullmatch(entry["sha256"]))
                and _is_count(entry.get("size"))
            )
            if not ok:
                problems.append(f"file entry {i + 1} lacks its name, SHA-256 or size")
            elif entry["name"] in seen:
                problems.append(f"{entry['name']!r} is listed twice")
            else:
                seen.add(entry["name"])
    if problems:
        raise BackupError("The manifest is damaged, refusing it: " + "; ".join(problems) + ".")


def _inside(directory: Path, path: Path) -> bool:
    """``path`` is a file of the backup itself: no symbolic link on the way, none at the end
    (a link could bring any file of the machine into the restored storage)."""
    # The backup directory itself may be reached through a link (a mounted volume); what is in
    # it may not. Resolving follows every link: the path must come out where it was written.
    return path.resolve() == directory.resolve() / path.relative_to(directory)


def verify_backup(directory: Path, manifest: Mapping[str, Any]) -> list[str]:
    """Every checksum and size of the backup against its manifest; raises on the first mismatch
    (listing all of them). Extra files in the backup are refused too."""
    directory = Path(directory)
    problems = []
    db = manifest["database"]
    dump = directory / _safe_name(db["file"])
    if not _inside(directory, dump):
        problems.append(f"{db['file']}: a symbolic link, not a file of the backup")
    elif not dump.is_file():
        problems.append(f"{db['file']}: missing")
    elif _sha256_path(dump) != (db["sha256"], db["size"]):
        problems.append(f"{db['file']}: checksum differs from the manifest")
    listed = set()
    for entry in manifest["files"]:
        name = _safe_name(entry["name"])
        listed.add(name)
        path = directory / FILES_DIR / name
        if not _inside(directory, path):
            problems.append(f"files/{name}: a symbolic link, not a file of the backup")
        elif not path.is_file():
            problems.append(f"files/{name}: missing")
        elif _sha256_path(path) != (entry["sha256"], entry["size"]):
            problems.append(f"files/{name}: checksum differs from the manifest")
    root = directory / FILES_DIR
    if root.is_dir():
        present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
        problems += [f"files/{name}: not in the manifest" for name in sorted(present - listed)]
    if problems:
        raise BackupError(
            "The backup does not match its manifest, refusing to restore it:\n  " + "\n  ".join(problems)
        )
    return [db["file"], *sorted(listed)]


def database_tables(database: Mapping[str, Any]) -> dict[str, int]:
    """Rows per table of a database, keyed as in a manifest."""
    if vendor_of(database) == "postgresql":
        return _pg_tables(database)
    return _sqlite_counts(Path(database["NAME"]))


def _compare_counts(expected: Mapping[str, int], actual: Mapping[str, int]) -> list[str]:
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want != got:
            problems.append(f"table {table}: {got} rows restored, the manifest says {want}")
    return problems


def backup_restore(
    *, directory: Path, database: Mapping[str, Any], storage: Storage, expect_sha256: str = ""
) -> Result:
    """Rebuild an empty database and an empty storage from the backup in ``directory``.

    Refuses, before writing anything, a backup whose files do not match its manifest, a
    database of another vendor, a database with any table, and a storage with any file. After
    restoring, every table's row count and every file's checksum (read back through the
    storage) must equal the manifest's, else ``BackupError``."""
    directory = Path(directory)
    manifest, manifest_sha = read_manifest(directory, expect_sha256=expect_sha256)
    checked = verify_backup(directory, manifest)
    vendor = vendor_of(database)
    if manifest["database"]["vendor"] != vendor:
        raise BackupError(
            f"This is a backup of a {manifest['database']['vendor']} database; the target is {vendor}."
        )
    existing = database_tables(database)
    if existing:
        raise BackupError(
            f"The database {database['NAME']} is not empty ({len(existing)} tables): restore only "
            "into a new, empty database (createdb one and point DATABASE_URL at it)."
        )
    stored = next(storage_names(storage), None)
    if stored is not None:
        raise BackupError(
            f"The private file storage is not empty (it holds {stored!r}, among others perhaps): "
            "restore only into an empty storage (a new PRIVATE_MEDIA_ROOT or bucket)."
        )

    dump = directory / manifest["database"]["file"]
    if vendor == "postgresql":
        _pg_restore(database, dump)
    else:
        target = Path(database["NAME"])
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copied to a temporary file beside the target and renamed: never half a database.
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".restoring", delete=False) as tmp:
            tmp_path = Path(tmp.name)
        try:
            _sqlite_copy(dump, tmp_path)
            tmp_path.replace(target)
        finally:
            tmp_path.unlink(missing_ok=True)

    for entry in manifest["files"]:
        with (directory / FILES_DIR / entry["name"]).open("rb") as fh:
            saved = storage.save(entry["name"], File(fh, name=entry["name"]))
        if saved != entry["name"]:
            raise BackupError(f"The storage saved {entry['name']!r} as {saved!r}; the restore is incomplete.")

    problems = _compare_counts(manifest["tables"], database_tables(database))
    for entry in manifest["files"]:
        if not storage.exists(entry["name"]):
            problems.append(f"file {entry['name']}: not in the storage after restoring")
            continue
        with storage.open(entry["name"], "rb") as fh:
            if sha256_of(fh) != (entry["sha256"], entry["size"]):
                problems.append(f"file {entry['name']}: checksum differs after restoring")
    if problems:
        raise BackupError("The restored data does not match the manifest:\n  " + "\n  ".join(problems))
    return Result(directory, manifest, manifest_sha, checked)
