# Two commands a new machine needs: `make run` and `make test`. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
POSTGRES_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-sqlite test-clock test-postgres lint fmt venv dev-venv clean check-deploy \
	prod-up prod-down prod-smoke backup-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

venv: $(VENV)/.run-installed
dev-venv: $(VENV)/.dev-installed

var/secret_key:
	mkdir -p var
	$(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	chmod 600 $@

# Sets up and runs the site: web on http://127.0.0.1:8000, Celery worker and beat.
run: venv var/secret_key
	@export DEBUG=false HTTPS=false SECRET_KEY="$$(cat var/secret_key)" PATH="$(CURDIR)/$(BIN):$$PATH" \
	  WEB_PORT="$${WEB_PORT:-8000}" MFA_REQUIRED_ROLES="$${MFA_REQUIRED_ROLES-}" \
	  EMAIL_BACKEND="$${EMAIL_BACKEND:-clinic.mailbox.EmailBackend}"; export SITE_URL="$${SITE_URL:-http://127.0.0.1:$$WEB_PORT}"; \
	$(BIN)/python manage.py migrate --noinput -v 0; \
	$(BIN)/python manage.py collectstatic --noinput -v 0; \
	$(BIN)/python manage.py seed_demo --if-empty; \
	echo ""; \
	echo "  Site:   $$SITE_URL"; \
	echo "  Logins: frontdesk / practitioner / manager, password exosome-demo-2026"; \
	if [ -z "$$MFA_REQUIRED_ROLES" ]; then \
	  echo "  Demo: no role must use a second factor (MFA_REQUIRED_ROLES is empty), so these"; \
	  echo "  logins are one step. Anyone may set one up under their name > Two-step sign-in."; \
	fi; \
	if [ "$$EMAIL_BACKEND" = "clinic.mailbox.EmailBackend" ]; then \
	  echo "  Mail: kept in the site, not sent (EMAIL_BACKEND=clinic.mailbox.EmailBackend). Read it as"; \
	  echo "  manager under Admin > Sent mail: $$SITE_URL/clinic/mail/"; \
	fi; \
	echo ""; \
	if $(BIN)/python -m clinic.redis_check; then \
	  exec $(BIN)/honcho start; \
	else \
	  exec $(BIN)/honcho start web; \
	fi

lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

fmt: dev-venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Sets up and runs the whole suite: lint (ruff, import layers, mypy), migrations check, tests on
# SQLite, the non-browser tests again at four awkward instants, then everything on PostgreSQL.
test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=clinic.settings_test
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-clock
	$(MAKE) --no-print-directory test-postgres

# In parallel (one test database per xdist worker) and in random order (pytest-randomly
# prints the seed at the top; replay that order with PYTEST_ARGS="--randomly-seed=N").
PYTEST := $(BIN)/pytest -n auto

test-sqlite: dev-venv
	@echo "== tests on SQLite"
	env -u DATABASE_URL $(PYTEST) $(PYTEST_ARGS)

# The instants the clinic's clock makes hard (Europe/London): late on a weekday; just after
# the hour that does not exist when clocks go forward; the second 01:30 when they go back;
# the last minute of the year. The session starts there and the clock ticks on.
CLOCKS ?= 2026-12-02T23:30 2027-03-28T01:30+00:00 2026-10-25T01:30+00:00 2026-12-31T23:59

test-clock: dev-venv
	@for clock in $(CLOCKS); do \
	  echo "== tests on SQLite with the clock at $$clock"; \
	  env -u DATABASE_URL $(PYTEST) -m "not browser" --clock "$$clock" -q $(PYTEST_ARGS) || exit 1; \
	done

test-postgres: dev-venv
	@if $(BIN)/python -m clinic.postgres_check "$(POSTGRES_TEST_URL)"; then \
	  echo "== tests on PostgreSQL ($(POSTGRES_TEST_URL))"; \
	  DATABASE_URL="$(POSTGRES_TEST_URL)" $(PYTEST) $(PYTEST_ARGS); \
	elif [ "$${CI:-}" = "true" ]; then \
	  echo "PostgreSQL is not reachable at $(POSTGRES_TEST_URL); CI requires it." >&2; exit 1; \
	else \
	  echo "== PostgreSQL not reachable at $(POSTGRES_TEST_URL): PostgreSQL pass skipped (CI runs it)."; \
	fi

# Seeds the demo clinic into a fresh database, backs it up, restores it into another fresh
# database and storage, and compares (scripts/backup_check.py). PostgreSQL on 127.0.0.1 when
# DATABASE_URL is set, SQLite files in a temporary directory otherwise.
backup-check: venv
	$(BIN)/python scripts/backup_check.py

check-deploy: venv
	DEBUG=false SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
	  ALLOWED_HOSTS=clinic.example.com $(BIN)/python manage.py check --deploy --fail-level WARNING

# The production stack on this machine, 127.0.0.1 only (deploy/stack.py): nginx with TLS in
# front of gunicorn, PostgreSQL, Redis, two Celery workers and one beat, DEBUG off.
prod-up: dev-venv
	$(BIN)/python deploy/stack.py up

prod-down: dev-venv
	$(BIN)/python deploy/stack.py down

# A stack of its own (own directory, database, ports, Redis database), the smoke test over
# HTTPS through nginx (deploy/smoke.py), then everything it started is stopped.
PROD_SMOKE_ENV := PROD_DIR=$(CURDIR)/var/prod-smoke PROD_HTTPS_PORT=8444 PROD_HTTP_PORT=8081 \
	PROD_SMTP_PORT=8026 PROD_REDIS_URL=redis://127.0.0.1:6379/7 \
	PROD_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/clinic_prod_smoke

prod-smoke: dev-venv
	$(PROD_SMOKE_ENV) $(BIN)/python deploy/stack.py smoke

clean:
	rm -rf $(VENV) var/static var/test-db*.sqlite3 .pytest_cache .ruff_cache
