"""The production stack on one machine, on 127.0.0.1 only: `make prod-up`, `make prod-down`.

Debian's nginx terminates TLS (a self-signed certificate made here) in front of gunicorn on a
unix socket, serves static files and hands private files over with X-Accel-Redirect;
PostgreSQL (a database of its own), Redis (a database number of its own), two Celery workers
with different host names and one beat, production settings (DEBUG off, HTTPS on, behind the
TLS proxy). The processes are those of deploy/Procfile.prod, run by honcho; nginx's site is
deploy/nginx/clinic.conf. A local SMTP sink (aiosmtpd, a Maildir) stands in for the clinic's
mail relay so the smoke test can read what the workers sent.

    python deploy/stack.py up       # start (idempotent: an already running stack is left)
    python deploy/stack.py down     # stop everything it started
    python deploy/stack.py smoke    # a fresh database, up, deploy/smoke.py, down

Settings (environment, with these defaults): PROD_DIR=var/prod, PROD_HTTPS_PORT=8443,
PROD_HTTP_PORT=8080, PROD_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/clinic_prod,
PROD_REDIS_URL=redis://127.0.0.1:6379/6, PROD_SMTP_PORT=8025.
"""

from __future__ import annotations

import mailbox
import os
import pwd
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE = Path(__file__).resolve().parent.parent
BIN = BASE / ".venv" / "bin"
RUN = Path(os.environ.get("PROD_DIR", BASE / "var" / "prod")).resolve()
HTTPS_PORT = int(os.environ.get("PROD_HTTPS_PORT", "8443"))
HTTP_PORT = int(os.environ.get("PROD_HTTP_PORT", "8080"))
SMTP_PORT = int(os.environ.get("PROD_SMTP_PORT", "8025"))
DATABASE_URL = os.environ.get("PROD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/clinic_prod")
REDIS_URL = os.environ.get("PROD_REDIS_URL", "redis://127.0.0.1:6379/6")
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/London")
BASE_URL = f"https://127.0.0.1:{HTTPS_PORT}"
CERT, KEY = RUN / "tls" / "cert.pem", RUN / "tls" / "key.pem"
MAILDIR = RUN / "maildir"
HONCHO_PID, SMTP_PID = RUN / "honcho.pid", RUN / "smtp.pid"


def say(message: str) -> None:
    print(f"[prod] {message}", flush=True)


def fail(message: str) -> None:
    raise SystemExit(f"[prod] {message}")


def tls_context() -> ssl.SSLContext:
    """Trusts exactly the stack's own certificate."""
    return ssl.create_default_context(cafile=str(CERT))


def process_env(**extra: str) -> dict[str, str]:
    """The production settings every process of the stack runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        PROD_DIR=str(RUN),
        DEBUG="false",
        HTTPS="true",
        BEHIND_TLS_PROXY="true",
        SECRET_KEY=(RUN / "secret_key").read_text().strip(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CSRF_TRUSTED_ORIGINS=BASE_URL,
        SITE_URL=BASE_URL,
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        VAR_DIR=str(RUN / "var"),
        STATIC_ROOT=str(RUN / "static"),
        PRIVATE_MEDIA_ROOT=str(RUN / "private"),
        PRIVATE_MEDIA_ACCEL_REDIRECT="/protected/",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(SMTP_PORT),
        TIME_ZONE=TIME_ZONE,
        # The demo's published logins are one step, as under `make run`; a clinic leaves
        # MFA_REQUIRED_ROLES unset (practitioners and managers then need a second factor).
        MFA_REQUIRED_ROLES=os.environ.get("MFA_REQUIRED_ROLES", ""),
    )
    env.update(extra)
    return env


def _render(template: Path, target: Path, values: dict[str, str]) -> None:
    text = template.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    if left := re.findall(r"@[A-Z_]+@", code):
        fail(f"{template} has placeholders this script does not fill: {sorted(set(left))}")
    target.write_text(text)


def _nginx_conf() -> None:
    (RUN / "nginx-tmp").mkdir(exist_ok=True)
    _render(
        BASE / "deploy" / "nginx" / "clinic.conf",
        RUN / "clinic.conf",
        {
            "SERVER_NAME": "127.0.0.1 localhost",
            "LISTEN_ADDR": "127.0.0.1:",
            "HTTPS_PORT": str(HTTPS_PORT),
            "HTTP_PORT": str(HTTP_PORT),
            "CERT": str(CERT),
            "KEY": str(KEY),
            "UPSTREAM": f"unix:{RUN / 'gunicorn.sock'}",
            "STATIC_ROOT": str(RUN / "static"),
            "PRIVATE_ROOT": str(RUN / "private"),
        },
    )
    # nginx started by root runs its workers as "nobody", who cannot read the site's private
    # files; on this machine they run as whoever runs the stack (a clinic uses www-data).
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    tmp = RUN / "nginx-tmp"
    (RUN / "nginx.conf").write_text(
        f"""# Generated by deploy/stack.py for the local stack; the site is {RUN / "clinic.conf"}.
{user}
worker_processes 2;
daemon off;
pid {RUN / "nginx.pid"};
error_log {RUN / "nginx-error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {RUN / "nginx-access.log"};
    sendfile on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {RUN / "clinic.conf"};
}}
"""
    )
    result = subprocess.run(  # noqa: S603
        [
            _tool("nginx"),
            "-t",
            "-q",
            "-p",
            str(RUN),
            "-c",
            str(RUN / "nginx.conf"),
            "-e",
            str(RUN / "nginx-error.log"),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode:
        fail(f"nginx refuses the configuration:\n{result.stderr}")


def _certificate() -> None:
    if CERT.exists() and KEY.exists():
        return
    CERT.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - Debian's openssl, from PATH
        [
            _tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            "-keyout", str(KEY), "-out", str(CERT), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    KEY.chmod(0o600)
    say(f"made a self-signed certificate for 127.0.0.1 and localhost: {CERT}")


def _database(*, fresh: bool, url: str = DATABASE_URL) -> None:
    """Create the stack's own PostgreSQL database (dropped first with ``fresh``)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in ("postgres", "test", "template0", "template1"):
        fail(f"PROD_DATABASE_URL must name a database of its own, not {name!r}")
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists and fresh:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                exists = None
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
                say(f"created PostgreSQL database {name}")
    except psycopg.OperationalError as exc:
        fail(f"PostgreSQL is not reachable at {admin}: {exc}".strip())


def backup_restores() -> None:
    """Back the running stack up, restore it into a fresh database and an empty storage
    directory, and let ``restore`` check every row count and checksum against the manifest."""
    backup_dir = RUN / "backup"
    shutil.rmtree(backup_dir, ignore_errors=True)
    taken = subprocess.run(  # noqa: S603
        [BIN / "python", "manage.py", "backup", str(backup_dir)],
        cwd=BASE, env=process_env(), capture_output=True, text=True,
    )  # fmt: skip
    if taken.returncode:
        fail(f"backup failed:\n{taken.stdout}{taken.stderr}")
    digest = re.search(r"Manifest SHA-256: ([0-9a-f]{64})", taken.stdout)
    if not digest:
        fail(f"backup printed no manifest hash:\n{taken.stdout}")
    parts = urlsplit(DATABASE_URL)
    target = urlunsplit(parts._replace(path=parts.path + "_restored"))
    _database(fresh=True, url=target)
    files = RUN / "restored-private"
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir()
    restored = subprocess.run(  # noqa: S603
        [BIN / "python", "manage.py", "restore", str(backup_dir), "--manifest-sha256", digest.group(1)],
        cwd=BASE, env=process_env(DATABASE_URL=target, PRIVATE_MEDIA_ROOT=str(files)),
        capture_output=True, text=True,
    )  # fmt: skip
    print(restored.stdout.strip(), flush=True)
    if restored.returncode:
        fail(f"the backup taken after the smoke test did not restore:\n{restored.stderr}")
    name = target.rsplit("/", 1)[1]
    say(f"the backup taken after the smoke test restored into {name}, every checksum equal")


def _tool(name: str) -> str:
    """A Debian tool's full path (nginx is in /usr/sbin, not on every user's PATH)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        fail(f"{name} is not installed: apt-get install -y {name}")
    return str(found)


def _preflight() -> None:
    for tool in ("nginx", "openssl"):
        _tool(tool)
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        fail(f"Redis is not reachable at {REDIS_URL}: {exc}")


def _manage(*args: str) -> None:
    subprocess.run([BIN / "python", "manage.py", *args], cwd=BASE, env=process_env(), check=True)  # noqa: S603


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _wait_ready(timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not _alive(HONCHO_PID):
            fail(f"the stack stopped while starting; see {RUN / 'stack.log'}:\n{_tail(RUN / 'stack.log')}")
        try:
            health = f"{BASE_URL}/healthz"  # always https://127.0.0.1
            with urllib.request.urlopen(health, context=tls_context(), timeout=3) as r:  # noqa: S310
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(1)
    fail(f"the site did not answer on {BASE_URL} within {timeout:.0f} s ({last}); see {RUN / 'stack.log'}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def up(*, fresh: bool = False) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    if _alive(HONCHO_PID):
        say(f"already running: {BASE_URL}")
        return
    _preflight()
    secret = RUN / "secret_key"
    if not secret.exists():
        secret.write_text(secrets.token_urlsafe(50))
        secret.chmod(0o600)
    _certificate()
    _database(fresh=fresh)
    if fresh:
        shutil.rmtree(RUN / "private", ignore_errors=True)
        shutil.rmtree(MAILDIR, ignore_errors=True)
    for sub in ("private", "static", "var"):
        (RUN / sub).mkdir(exist_ok=True)
    mailbox.Maildir(MAILDIR, create=True)  # new/, cur/, tmp/ for the SMTP sink
    _nginx_conf()
    _manage("migrate", "--noinput", "-v", "0")
    _manage("collectstatic", "--noinput", "-v", "0")
    _manage("seed_demo", "--if-empty")
    _manage("check", "--deploy", "--fail-level", "ERROR")
    with open(RUN / "smtp.log", "ab") as log:
        smtp = subprocess.Popen(  # noqa: S603
            [BIN / "python", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{SMTP_PORT}", "-c",
             "aiosmtpd.handlers.Mailbox", str(MAILDIR)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    SMTP_PID.write_text(str(smtp.pid))
    with open(RUN / "stack.log", "ab") as log:
        honcho = subprocess.Popen(  # noqa: S603
            [BIN / "honcho", "-f", str(BASE / "deploy" / "Procfile.prod"), "-d", str(BASE), "start"],
            cwd=BASE, env=process_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    HONCHO_PID.write_text(str(honcho.pid))
    _wait_ready()
    say(f"up: {BASE_URL} (nginx, gunicorn, worker-a, worker-b, beat); logs in {RUN / 'stack.log'}")
    say("logins: frontdesk / practitioner / manager, password exosome-demo-2026 (self-signed TLS)")


def down() -> None:
    stopped = False
    for pid_file in (HONCHO_PID, SMTP_PID):
        pid = _alive(pid_file)
        if pid is None:
            pid_file.unlink(missing_ok=True)
            continue
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(pid_file):
            time.sleep(0.5)
        if _alive(pid_file):
            os.killpg(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
        stopped = True
    # Anything of the stack's still holding its ports (a killed honcho's children).
    subprocess.run(["pkill", "-f", str(RUN)], check=False)  # noqa: S603, S607
    say("down" if stopped else "nothing was running")


def smoke() -> int:
    """A fresh database and files, the stack, deploy/smoke.py, and everything stopped again."""
    # No quiet hours, so a run at night still sees a patient reminder delivered at once.
    os.environ.update(QUIET_HOURS_END="0", QUIET_HOURS_START="24")
    returncode = 1
    try:
        up(fresh=True)
        smoke_test = [BIN / "python", str(BASE / "deploy" / "smoke.py")]
        returncode = subprocess.run(smoke_test, cwd=BASE, env=process_env()).returncode  # noqa: S603
        if returncode == 0:
            backup_restores()
    finally:
        if returncode:
            print(
                f"--- the stack's log ({RUN / 'stack.log'}):\n{_tail(RUN / 'stack.log', 80)}", file=sys.stderr
            )
        down()
    return returncode


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "up":
        up()
    elif command == "down":
        down()
    elif command == "smoke":
        raise SystemExit(smoke())
    else:
        raise SystemExit(__doc__)
