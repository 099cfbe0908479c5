"""`make backup-check`: seed the demo clinic, back it up, restore it into a fresh database and
storage, and compare. Exits non-zero on any difference (CI runs it).

PostgreSQL when DATABASE_URL is set (it must point at 127.0.0.1: the check creates and drops two
databases named after it, <name>_bcheck_src and <name>_bcheck_dst); SQLite files otherwise. All
files go to a temporary directory that is removed at the end. Also proves that a tampered backup
and a non-empty target are refused.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def manage(*args: str, env: dict[str, str], expect_ok: bool = True) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if os.environ.get("BACKUP_CHECK_VERBOSE"):
        print(f"  manage.py {args[0]}: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    if expect_ok and done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"backup-check: manage.py {' '.join(args)} failed (exit {done.returncode})")
    return done


def file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def table_counts(env: dict[str, str]) -> str:
    code = (
        "import json; from django.db import connection; from clinic.backup import database_tables; "
        "from clinic.models import AuditEvent; c = database_tables(connection.settings_dict); "
        "t = next(n for n in c if n.rsplit('.', 1)[-1] == 'clinic_auditevent'); "
        "c[t] -= AuditEvent.objects.filter(action__startswith='backup.').count(); "
        "print(json.dumps(c, sort_keys=True))"
    )
    return manage("shell", "-c", code, env=env).stdout.strip().splitlines()[-1]


def postgres_urls(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"backup-check: DATABASE_URL must point at 127.0.0.1, not {parts.hostname}.")
    base = parts.path.lstrip("/") or "postgres"
    admin = urlunsplit(parts._replace(path="/postgres"))
    src = urlunsplit(parts._replace(path=f"/{base}_bcheck_src"))
    dst = urlunsplit(parts._replace(path=f"/{base}_bcheck_dst"))
    return admin, src, dst


def recreate(admin: str, *urls: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        for url in urls:
            name = urlsplit(url).path.lstrip("/")
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not drop_only:
                conn.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    started = time.monotonic()
    base_env = {
        **os.environ,
        "DEBUG": "false",
        "HTTPS": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    url = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="backup-check-") as tmp_name:
        tmp = Path(tmp_name)
        if url:
            admin, src_url, dst_url = postgres_urls(url)
            recreate(admin, src_url, dst_url)
        else:
            admin = ""
            src_url, dst_url = f"sqlite:///{tmp / 'src.sqlite3'}", f"sqlite:///{tmp / 'dst.sqlite3'}"
        src = {**base_env, "DATABASE_URL": src_url, "PRIVATE_MEDIA_ROOT": str(tmp / "src-files")}
        dst = {**base_env, "DATABASE_URL": dst_url, "PRIVATE_MEDIA_ROOT": str(tmp / "dst-files")}
        try:
            manage("migrate", "--noinput", "-v", "0", env=src)
            manage("seed_demo", env=src)
            backup = tmp / "backup"
            out = manage("backup", str(backup), env=src).stdout
            print(out.strip())
            expected_counts = table_counts(src)
            expected_files = file_hashes(tmp / "src-files")

            # A tampered copy is refused before anything is written.
            tampered = tmp / "tampered"
            shutil.copytree(backup, tampered)
            victim = next(p for p in sorted((tampered / "files").rglob("*")) if p.is_file())
            victim.write_bytes(victim.read_bytes() + b"x")
            refused = manage("restore", str(tampered), env=dst, expect_ok=False)
            if refused.returncode == 0 or "checksum differs" not in refused.stderr:
                raise SystemExit("backup-check: a tampered backup was not refused:\n" + refused.stderr)

            print(manage("restore", str(backup), env=dst).stdout.strip())
            restored_counts = table_counts(dst)
            restored_files = file_hashes(tmp / "dst-files")

            # Restoring again into the now non-empty database is refused.
            again = manage("restore", str(backup), env=dst, expect_ok=False)
            if again.returncode == 0 or "not empty" not in again.stderr:
                raise SystemExit("backup-check: a restore into a non-empty database was not refused.")
        finally:
            if admin:
                recreate(admin, src_url, dst_url, drop_only=True)

    # Both sides are counted without the audit rows of backup.* actions: the source's
    # backup.create was written after the snapshot, the restored side adds backup.restore.
    import json

    want, got = json.loads(expected_counts), json.loads(restored_counts)
    problems = [
        f"{t}: source {want.get(t)}, restored {got.get(t)}"
        for t in sorted(set(want) | set(got))
        if want.get(t) != got.get(t)
    ]
    if expected_files != restored_files:
        problems.append(f"files differ: {len(expected_files)} in the source, {len(restored_files)} restored")
    if problems:
        print("backup-check: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(
        f"backup-check: OK on {'PostgreSQL' if url else 'SQLite'}: {len(want)} tables, "
        f"{sum(want.values())} rows, "
        f"{len(expected_files)} files equal after restore; tampered backup and non-empty target refused "
        f"({time.monotonic() - started:.0f} s)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
