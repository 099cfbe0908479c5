"""Settings for the clinic site.

Everything that differs between machines comes from environment variables, read by the
strict helpers in ``clinic.env``: a malformed value stops start-up with a clear message.
The defaults are safe for a developer's machine (SQLite under ``var/``, Redis on
localhost); production values are documented in README.md.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from clinic.env import env_bool, env_int, env_int_list, env_list, env_str
from clinic.phones import region_checked
from clinic.roles import MANAGER, PRACTITIONER, ROLES

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
try:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
except OSError as exc:
    raise ImproperlyConfigured(f"VAR_DIR={str(VAR_DIR)!r} cannot be created: {exc.strerror}.") from None

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", None)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if not DEBUG else ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

CLINIC_NAME = env_str("CLINIC_NAME", "Exosome Clinic")
# The site's public address: links in emails (opt-out, "open in the site") start with it.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"SITE_URL={SITE_URL!r} must start with http:// or https://.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_prometheus",
    "clinic",
    "products",
    "treatments",
    "treatments.photos",
]

MIDDLEWARE = [
    # Request metrics (count, latency, status by view) for /metrics: first and last, so the
    # latency includes every other middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Behind the proxy, the client's address before anything reads it (lock-out, limits, audit).
    "clinic.middleware.ProxyClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): signed in with a second factor in this session.
    "django_otp.middleware.OTPMiddleware",
    # A NUL byte in the address is a 400 before any view passes it to the database.
    "clinic.middleware.NulQueryMiddleware",
    # Every view needs a signed-in user unless it is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "clinic.middleware.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "clinic.middleware.SessionTimeoutMiddleware",
    # A session without its second factor for a role that needs one is signed out.
    "clinic.middleware.SecondFactorMiddleware",
    # 403s and 404s on patient records, photos, signatures and documents go to the audit trail.
    "clinic.middleware.RefusalAuditMiddleware",
    "clinic.middleware.PrivateCacheMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Request metrics by view and status: as close to the view as Axes leaves room for.
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Axes last, as its documentation asks: it turns lock-outs into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinic.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock at BEGIN, so two requests that
    # move the same stock queue up instead of both reading the old quantity.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    # Tests use a file, not shared-cache memory, so a real Celery worker thread and the
    # live server see the same data with SQLite's normal locking.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation: the clearance counts (EXISTS per lot inside COUNT(*) FILTER) are
    # estimated far above jit_above_cost, and compiling them took 1.7 s for a query that runs
    # in 60 ms (issue 19). Short OLTP queries never repay JIT; reports here are no exception.
    _db.setdefault("OPTIONS", {})["options"] = "-c jit=off"
DATABASES = {"default": _db}
# A PostgreSQL read replica for the period reports (clinic/replica.py); tests mirror the primary.
if replica_url := env_str("DATABASE_REPLICA_URL", ""):
    try:
        _replica = dj_database_url.parse(replica_url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL is not a valid database URL: {exc}") from None
    if _replica["ENGINE"] != _db["ENGINE"]:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be the same engine as DATABASE_URL.")
    _replica["OPTIONS"] = dict(_db.get("OPTIONS", {}))
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["clinic.replica.ReportsReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication and sessions ------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Idle time-out (minutes without a request) and absolute lifetime (hours since login).
SESSION_IDLE_TIMEOUT_MINUTES = env_int("SESSION_IDLE_TIMEOUT_MINUTES", 30, minimum=1)
SESSION_ABSOLUTE_HOURS = env_int("SESSION_ABSOLUTE_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

# Lock-out of repeated failed logins (django-axes): per username and address.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = True

# Second factor (django-otp): TOTP apps plus one-use recovery codes. Roles named here must
# enrol at their first sign-in and give a code at every sign-in; anyone else who enrolled
# gives one too. `make run`'s demo sets it empty so the demo logins stay one step.
# Set it to an empty value (or "none") for no required role.
if os.environ.get("MFA_REQUIRED_ROLES", "unset").strip().lower() in ("", "none"):
    MFA_REQUIRED_ROLES: tuple[str, ...] = ()
else:
    MFA_REQUIRED_ROLES = tuple(env_list("MFA_REQUIRED_ROLES", [PRACTITIONER, MANAGER]))
    if unknown := sorted(set(MFA_REQUIRED_ROLES) - set(ROLES)):
        raise ImproperlyConfigured(
            f"MFA_REQUIRED_ROLES names unknown roles {unknown}; the roles are {', '.join(ROLES)}."
        )
# Minutes between a correct password and the code before the half-signed-in state lapses.
MFA_PENDING_MINUTES = env_int("MFA_PENDING_MINUTES", 5, minimum=1)
MFA_RECOVERY_CODES = 10
OTP_TOTP_ISSUER = CLINIC_NAME
# Each wrong code doubles the wait before the next is checked (1 s, 2 s, 4 s ...), per device.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# --- HTTPS and security headers -------------------------------------------------------
HTTPS = env_bool("HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
# Behind the TLS proxy (deploy/nginx/clinic.conf) Django trusts the two headers the proxy
# overwrites: X-Forwarded-Proto (HTTPS) and X-Real-IP (the client's address, for the sign-in
# lock-out, rate limits and the audit trail: clinic.middleware.ProxyClientAddressMiddleware).
# Only when the proxy is the one way in: a client reaching gunicorn directly could set both.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp 4): no inline script or style anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "Europe/London")
try:
    import zoneinfo

    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not a known time zone.") from None
USE_I18N = True
USE_TZ = True

# --- Static and private files ---------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# Private uploads (photos, documents, signatures). There is deliberately no MEDIA_URL
# route: every file is streamed by a view that checks the user's role and location.
PRIVATE_MEDIA_ROOT = Path(env_str("PRIVATE_MEDIA_ROOT", str(VAR_DIR / "private")))
# With nginx in front, set this to the internal location that maps to PRIVATE_MEDIA_ROOT
# (e.g. /protected/) and the site answers with X-Accel-Redirect instead of the bytes.
PRIVATE_MEDIA_ACCEL_REDIRECT = env_str("PRIVATE_MEDIA_ACCEL_REDIRECT", "")
# Where private files live: "local" (PRIVATE_MEDIA_ROOT on this machine, the default) or "s3"
# (an S3-compatible bucket through django-storages: web processes keep nothing on their disk, so
# any number of them can run behind a load balancer). Credentials are never settings: boto3 reads
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an instance role) from the environment.
PRIVATE_STORAGE = env_str("PRIVATE_STORAGE", "local").lower()
if PRIVATE_STORAGE not in {"local", "s3"}:
    raise ImproperlyConfigured(f"PRIVATE_STORAGE={PRIVATE_STORAGE!r} must be local or s3.")
# How a permitted download leaves the site with S3: "stream" (the default: the view copies the
# object to the response in chunks, with the no-store, nosniff and sandboxing CSP headers of every
# private file) or "signed" (a 302 to a URL signed for PRIVATE_SIGNED_URL_SECONDS, which spares
# the web process the bytes but loses nosniff and the CSP: S3 cannot set them on its response).
PRIVATE_MEDIA_DELIVERY = env_str("PRIVATE_MEDIA_DELIVERY", "stream").lower()
if PRIVATE_MEDIA_DELIVERY not in {"stream", "signed"}:
    raise ImproperlyConfigured(f"PRIVATE_MEDIA_DELIVERY={PRIVATE_MEDIA_DELIVERY!r} must be stream or signed.")
PRIVATE_SIGNED_URL_SECONDS = env_int("PRIVATE_SIGNED_URL_SECONDS", 60, minimum=1)
if PRIVATE_STORAGE == "s3":
    if PRIVATE_MEDIA_ACCEL_REDIRECT:
        raise ImproperlyConfigured(
            "PRIVATE_MEDIA_ACCEL_REDIRECT hands nginx a path under PRIVATE_MEDIA_ROOT; with "
            "PRIVATE_STORAGE=s3 the files are in the bucket: leave it empty."
        )
    _addressing = env_str("AWS_S3_ADDRESSING_STYLE", None)
    if _addressing not in {None, "path", "virtual", "auto"}:
        raise ImproperlyConfigured(f"AWS_S3_ADDRESSING_STYLE={_addressing!r} must be path, virtual or auto.")
    _private_storage = {
        "BACKEND": "clinic.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", None),
            "region_name": env_str("AWS_S3_REGION_NAME", None),
            # A key prefix inside the bucket (several sites may share one bucket).
            "location": env_str("AWS_LOCATION", ""),
            # "path" for servers that have no per-bucket host names (MinIO, Ceph on one host).
            "addressing_style": _addressing,
            "querystring_expire": PRIVATE_SIGNED_URL_SECONDS,
            # An object read through open() (exports, logger files) is held in memory, never
            # spooled to this machine's disk; downloads use PrivateS3Storage.stream instead.
            "max_memory_size": 0,
        },
    }
else:
    if PRIVATE_MEDIA_DELIVERY == "signed":
        raise ImproperlyConfigured("PRIVATE_MEDIA_DELIVERY=signed needs PRIVATE_STORAGE=s3.")
    _private_storage = {
        "BACKEND": "clinic.storage.PrivateFileSystemStorage",
        "OPTIONS": {"location": str(PRIVATE_MEDIA_ROOT), "base_url": None},
    }
STORAGES = {
    "default": _private_storage,
    "private": _private_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Forms ----------------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Email ----------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"{CLINIC_NAME} <clinic@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true.")

# --- Celery and Redis -----------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Bearer token of the Prometheus scraper for /metrics (and the details of /healthz): empty means
# no scraper, and /metrics answers 404 to everyone but a signed-in manager.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
CELERY_BROKER_URL = REDIS_URL

# --- Caches ---------------------------------------------------------------------------
# The networked-logger feed's rate counters (products.feeds) must be shared by every web
# worker: in Redis when REDIS_URL is set in the environment (production). Without it (a
# developer's machine) each process counts on its own in memory. Short socket timeouts: a dead
# Redis must not hold a request up; the feed then lets batches through unlimited, logged.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "clinic",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if env_str("REDIS_URL", None)
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit"}
    ),
}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = max(1, CELERY_TASK_TIME_LIMIT - 20)
# A request never waits on a dead broker: publishing fails fast, the outbox row stays
# pending and the periodic sweep sends it when Redis is back.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "max_retries": 0,
    "visibility_timeout": 3600,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Exactly one beat, enforced: celery-redbeat keeps the schedule (each entry's last run) in Redis
# instead of a file on the beat's machine, and a beat ticks only while it holds a lock there
# (BEAT_LOCK_TIMEOUT seconds, renewed on every tick). A second beat started by mistake waits at
# start-up for the lock, polling every CELERY_BEAT_MAX_LOOP_INTERVAL, and sends nothing; it takes over
# at once when the first stops cleanly (it releases the lock), and within BEAT_LOCK_TIMEOUT when
# the first dies. The renewal interval is a fifth of the lock's lifetime, so a tick that is late
# by a few seconds never loses it.
CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
CELERY_REDBEAT_REDIS_URL = REDIS_URL
# Several sites may share one Redis: each beat's keys (schedule, lock) live under this prefix.
CELERY_REDBEAT_KEY_PREFIX = env_str("BEAT_KEY_PREFIX", "clinic:beat:")
CELERY_REDBEAT_LOCK_TIMEOUT = env_int("BEAT_LOCK_TIMEOUT", 60, minimum=5)
CELERY_BEAT_MAX_LOOP_INTERVAL = max(1, CELERY_REDBEAT_LOCK_TIMEOUT // 5)
# A Redis restart of a few seconds is retried; an outage longer than half the lock's lifetime
# stops the beat (it may no longer be the only one): a supervisor starts it again, waiting its turn.
CELERY_REDBEAT_REDIS_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "retry_period": CELERY_REDBEAT_LOCK_TIMEOUT // 2,
}
# The whole beat schedule lives here, in one place. One beat for the whole site (a second one
# stays idle: the lock above). Times are clinic time (CELERY_TIMEZONE). Every sweep is
# idempotent (deterministic dedupe keys), so a repeated run is harmless, and the daily ones
# catch up on a missed day.
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "clinic.tasks.outbox_sweep", "schedule": 60.0},
    "worker-heartbeat": {"task": "clinic.tasks.worker_heartbeat", "schedule": 60.0},
    # Cold-chain excursions: e-mail managers within a minute or two of an excursion opening.
    "alerts-excursions": {"task": "products.tasks.excursion_alerts", "schedule": 60.0},
    # Appointment reminders are written an hour ahead of their due time and sent when due.
    "reminders-appointments": {
        "task": "treatments.tasks.appointment_reminders",
        "schedule": crontab(minute="*/15"),
    },
    # Daily, before the desk opens (staff) and after quiet hours end (patients).
    "alerts-product-expiry": {
        "task": "products.tasks.product_expiry_alerts",
        "schedule": crontab(hour=7, minute=0),
    },
    # Reorder levels: products newly below their minimum, once per crossing.
    "alerts-low-stock": {
        "task": "products.tasks.low_stock_alerts",
        "schedule": crontab(hour=7, minute=5),
    },
    "alerts-calibration-expiry": {
        "task": "products.tasks.calibration_expiry_alerts",
        "schedule": crontab(hour=7, minute=10),
    },
    "alerts-document-expiry": {
        "task": "products.tasks.document_expiry_alerts",
        "schedule": crontab(hour=7, minute=15),
    },
    # Erasure requests whose clinical-record retention has lapsed (nightly, out of hours).
    "erasures-due": {
        "task": "treatments.tasks.erasures_due",
        "schedule": crontab(hour=2, minute=40),
    },
    "reminders-maintenance": {
        "task": "treatments.tasks.maintenance_reminders",
        "schedule": crontab(hour=9, minute=30),
    },
    # Manual checks are due in each working half-day (08–13, 13–18): look just after each.
    "alerts-missed-checks": {
        "task": "products.tasks.missed_check_alerts",
        "schedule": crontab(minute=20, hour="13,18", day_of_week="mon-fri"),
    },
    # Missing data-logger data, including gaps a late file has just revealed: hourly, every
    # day (loggers run at night and at weekends too).
    "alerts-logger-gaps": {
        "task": "products.tasks.logger_gap_alerts",
        "schedule": crontab(minute=35),
    },
}

# --- Clinic rules -----------------------------------------------------------------------
EXPIRING_SOON_DAYS = env_int("EXPIRING_SOON_DAYS", 30, minimum=1)
# Adult clinical records are kept this many years after the last treatment (UK guidance:
# 8); an erasure request erases the rest at once and the record when this lapses.
CLINICAL_RETENTION_YEARS = env_int("CLINICAL_RETENTION_YEARS", 8, minimum=1)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 5, minimum=1)
# A row "sending" this long is taken for a dead worker's (killed mid-send) and sent again, with
# the same Message-ID / SMS idempotency key. Longer than any live send: one SMTP send waits at
# most a few EMAIL_TIMEOUTs (connect, each command), so refuse a value that is not far above.
OUTBOX_STALE_CLAIM_MINUTES = env_int("OUTBOX_STALE_CLAIM_MINUTES", 10, minimum=1)
if OUTBOX_STALE_CLAIM_MINUTES * 60 < 10 * EMAIL_TIMEOUT:
    raise ImproperlyConfigured(
        f"OUTBOX_STALE_CLAIM_MINUTES={OUTBOX_STALE_CLAIM_MINUTES} is too short for EMAIL_TIMEOUT="
        f"{EMAIL_TIMEOUT}s: a live send could be taken for a dead one and sent twice "
        "(at least 10 × EMAIL_TIMEOUT)."
    )
# Patient messages go out only between these hours, clinic time (24 h clock).
QUIET_HOURS_END = env_int("QUIET_HOURS_END", 8, minimum=0)
QUIET_HOURS_START = env_int("QUIET_HOURS_START", 20, minimum=1)
if not QUIET_HOURS_END < QUIET_HOURS_START <= 24:
    raise ImproperlyConfigured("QUIET_HOURS_END must be before QUIET_HOURS_START (hours 0–24).")
SMS_BACKEND = env_str("SMS_BACKEND", "clinic.channels.LoggingSmsBackend")
# Phone numbers typed without a country code are numbers of this region (ISO 3166 code: GB,
# IE, FR…); they are stored in E.164 and shown in its national format (clinic/phones.py).
PHONE_REGION = region_checked(env_str("PHONE_REGION", "GB"))

# --- Photos ---------------------------------------------------------------------------
# Photos processed at the same time in one process (a web worker's threads share them): a
# 59 MP JPEG holds ~130 MB while it is processed, a 60 MP PNG or HEIC ~500 MB, a 60 MP WebP
# ~950 MB (clinic/imaging.py has the figures). An upload that
# finds no slot free within the wait is refused ("the server is busy") and stores nothing.
PHOTO_PROCESSING_CONCURRENCY = env_int("PHOTO_PROCESSING_CONCURRENCY", 2, minimum=1)
PHOTO_PROCESSING_WAIT_SECONDS = env_int("PHOTO_PROCESSING_WAIT_SECONDS", 30, minimum=1)

# --- Reminders and alerts ----------------------------------------------------------------
# Patients: a reminder this many days before a plan's next session is due (and one on the
# due date if still not booked); an appointment reminder this many hours before a session.
MAINTENANCE_REMINDER_DAYS_BEFORE = env_int("MAINTENANCE_REMINDER_DAYS_BEFORE", 7, minimum=1)
APPOINTMENT_REMINDER_HOURS = env_int("APPOINTMENT_REMINDER_HOURS", 24, minimum=1)
# Patients may cancel through their reminder link only this long before the session.
CANCELLATION_WINDOW_HOURS = env_int("CANCELLATION_WINDOW_HOURS", 24, minimum=0)
# Reminder links stop working this many days after they are sent (and a day after the session).
PATIENT_LINK_MAX_DAYS = env_int("PATIENT_LINK_MAX_DAYS", 14, minimum=1)
# Signs the SMS provider's inbound webhook (HMAC-SHA256 of the body); unset, the webhook is off.
SMS_INBOUND_SECRET = env_str("SMS_INBOUND_SECRET", "")
# Managers: lots reaching these many days before expiry (0 = the expiry date itself), and
# certificates (calibration, later regulatory documents) reaching these many days.
PRODUCT_EXPIRY_ALERT_DAYS = env_int_list("PRODUCT_EXPIRY_ALERT_DAYS", [30, 7, 0], minimum=0)
DOCUMENT_EXPIRY_ALERT_DAYS = env_int_list("DOCUMENT_EXPIRY_ALERT_DAYS", [60, 30], minimum=0)

# --- Logging --------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "axes": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # 403/404 answers are expected traffic (role and location checks); errors still log.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
