# MCN Console. `make run` starts the console with demo data and a simulated live stream;
# `make test` runs lint and the whole suite. Both start an embedded PostgreSQL and Redis
# under ./var/ unless DATABASE_URL and REDIS_URL are set.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
WITH_SERVICES := $(PY) mcn_console/embedded.py --
MCN_PORT ?= 8000
export MCN_PORT

.PHONY: install run serve test check lint format bench messages clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} LOG_FORMAT=$${LOG_FORMAT:-plain} \
		$(WITH_SERVICES) $(MAKE) --no-print-directory serve

# The console's processes; needs DATABASE_URL and REDIS_URL (make run provides them).
serve:
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	PATH="$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

test: $(STAMP)
	$(WITH_SERVICES) $(MAKE) --no-print-directory check

check: lint
	$(PY) -m pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run --settings=tests.settings

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks of the real-time spine (docs/benchmarks.md), on a `<name>_bench` database;
# one JSON line of figures per benchmark. E.g. BENCH_ARGS="ingest --duration 10".
bench: $(STAMP)
	$(WITH_SERVICES) $(PY) -m bench $(BENCH_ARGS)

# Extract and compile translations (needs GNU gettext; the compiled .mo files are committed).
messages: $(STAMP)
	DATABASE_URL=postgres://unused/ REDIS_URL=redis://unused/ DJANGO_DEBUG=true \
		$(PY) manage.py makemessages --locale zh_Hans --ignore '.venv/*' --ignore 'var/*'
	DATABASE_URL=postgres://unused/ REDIS_URL=redis://unused/ DJANGO_DEBUG=true \
		$(PY) manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf var staticfiles
