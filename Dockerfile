# The one image behind web, worker, beat and migrate in docker-compose.yml; each service
# picks its process with `command`, and the default below is the web server.
FROM python:3.11-slim

# The checkout in /app (templates, static files and translations beside the code) is what
# runs, for `celery` as well as `python -m`; the installed copy only brings the dependencies.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app

# Pango and a CJK font: WeasyPrint draws the memorisation sheets as PDF, in Chinese too.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

# Dependencies in a layer of their own, so a code change does not reinstall them. Only the
# main dependencies: the `dev` extras (pytest, ruff, playwright, ...) stay out of the image.
COPY pyproject.toml requirements/constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt constraints.txt

COPY . .
RUN pip install -c requirements/constraints.txt . \
    && rm -rf build ./*.egg-info

# Settings refuse to load without these; collectstatic touches neither the database nor
# Redis, so placeholders serve for this one step and never reach a running container.
RUN DJANGO_SECRET_KEY=collectstatic-build-step-only \
    DATABASE_URL=postgres://unused@localhost/unused \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mcn
USER mcn

EXPOSE 8000
CMD ["python", "-m", "uvicorn", "mcn_console.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--lifespan", "off", "--ws-ping-interval", "20", "--ws-ping-timeout", "20", "--ws-per-message-deflate", "false", "--no-access-log"]
