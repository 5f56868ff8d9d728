"""The production-shaped path: Dockerfile, docker-compose.yml and .env.example.

There is no Docker engine where the suite runs, so these tests check what the files promise
against the code they name: the services, their commands, the variables, and what Django's
deployment checks say about the settings they produce.
"""

import ast
import importlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from celery.app.utils import find_app
from django.test import Client, override_settings

from mcn_console.celery import app as console_celery_app

BASE_DIR = Path(__file__).resolve().parents[2]
COMPOSE_FILE = BASE_DIR / "docker-compose.yml"
DOCKERFILE = BASE_DIR / "Dockerfile"
DOCKERIGNORE = BASE_DIR / ".dockerignore"
ENV_EXAMPLE = BASE_DIR / ".env.example"
PROCFILE = BASE_DIR / "Procfile"
SETTINGS = BASE_DIR / "mcn_console" / "settings.py"

CONSOLE_SERVICES = ["migrate", "web", "worker", "beat"]
# Read by the postgres image, not by the console; the only such variables .env.example holds.
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"}


# --- reading the files -------------------------------------------------------------------


def _settings_variables() -> set[str]:
    """Names passed to `env(...)`, `env.bool(...)`, `env.db(...)` etc. in settings.py."""
    tree = ast.parse(SETTINGS.read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _reads_env(node.func)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def _reads_env(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "env") or (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "env"
        and func.attr != "read_env"
    )


def _env_example_lines() -> list[str]:
    return ENV_EXAMPLE.read_text().splitlines()


def _env_example_pairs() -> list[tuple[str, str]]:
    return [
        (key, value)
        for key, _, value in (
            line.partition("=")
            for line in _env_example_lines()
            if line.strip() and not line.startswith("#")
        )
    ]


def _env_example() -> dict[str, str]:
    return dict(_env_example_pairs())


def _comment_above(key: str) -> str:
    """The comment block above a variable, skipping the variables grouped under it."""
    lines = _env_example_lines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
    while index > 0 and re.match(r"^[A-Z0-9_]+=", lines[index - 1]):
        index -= 1
    comment = []
    while index > 0 and lines[index - 1].startswith("#"):
        index -= 1
        comment.insert(0, lines[index])
    return "\n".join(comment)


def _compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _service(name: str) -> dict:
    return _compose()["services"][name]


def _procfile() -> dict[str, list[str]]:
    entries = (line.split(":", 1) for line in PROCFILE.read_text().splitlines() if line.strip())
    return {name.strip(): shlex.split(command) for name, command in entries}


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current += stripped.removesuffix("\\").strip() + " "
        if not stripped.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def _dockerfile(instruction: str) -> list[str]:
    return [args for name, args in _dockerfile_instructions() if name == instruction]


def _dockerignore_patterns() -> list[re.Pattern]:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [re.compile(_docker_glob_to_regex(pattern)) for pattern in patterns]


def _docker_glob_to_regex(pattern: str) -> str:
    parts = re.split(r"(\*\*/|\*|\?)", pattern.strip("/"))
    translated = {"**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return "".join(translated.get(part, re.escape(part)) for part in parts) + "$"


def _ignored_by_docker(relative_path: str) -> bool:
    """Whether the path, or a folder holding it, is left out of the build context."""
    parts = relative_path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        pattern.match(candidate) for pattern in _dockerignore_patterns() for candidate in candidates
    )


def _option(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def _with_option(command: list[str], option: str, value: str) -> list[str]:
    index = command.index(option)
    return [*command[: index + 1], value, *command[index + 2 :]]


# --- docker-compose.yml ------------------------------------------------------------------


def test_compose_file_defines_exactly_the_console_services():
    compose = _compose()

    assert set(compose["services"]) == {"postgres", "redis", *CONSOLE_SERVICES}


def test_postgres_and_redis_are_the_official_images():
    assert _service("postgres")["image"] == "postgres:18"
    assert _service("redis")["image"] == "redis:7"


def test_console_services_run_one_image_built_from_the_dockerfile():
    services = [_service(name) for name in CONSOLE_SERVICES]

    assert {json.dumps(service["build"]) for service in services} == {'"."'}
    assert {service["image"] for service in services} == {"mcn-console:latest"}
    assert (BASE_DIR / _service("web")["build"] / "Dockerfile").is_file()


@pytest.mark.parametrize("name", CONSOLE_SERVICES)
def test_console_services_take_their_environment_from_the_env_file(name):
    service = _service(name)

    assert service["env_file"] == ".env"
    assert "environment" not in service


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_web_worker_and_beat_start_after_a_successful_migration(name):
    depends_on = _service(name)["depends_on"]

    assert depends_on == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }


def test_migrate_is_a_one_shot_django_migration_once_postgres_is_healthy():
    migrate = _service("migrate")

    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert (BASE_DIR / "manage.py").is_file()
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_postgres_and_redis_health_checks_ask_the_servers_themselves():
    postgres_check = _service("postgres")["healthcheck"]["test"]
    redis_check = _service("redis")["healthcheck"]["test"]

    assert postgres_check[0] == "CMD-SHELL"
    assert postgres_check[1].startswith("pg_isready ")
    assert redis_check == ["CMD", "redis-cli", "ping"]


def test_web_health_check_requests_readyz_on_the_port_web_listens_on():
    web = _service("web")
    check = web["healthcheck"]["test"]

    url = urlsplit(re.search(r"http://[^'\"\s]+", check[-1]).group())

    assert check[:3] == ["CMD", "python", "-c"]
    assert url.path == "/readyz"
    assert url.port == int(_option(web["command"], "--port"))
    assert url.hostname in _env_example()["DJANGO_ALLOWED_HOSTS"].split(",")


@pytest.mark.django_db
def test_web_health_check_request_is_answered_under_the_production_https_redirect():
    url = urlsplit(
        re.search(r"http://[^'\"\s]+", _service("web")["healthcheck"]["test"][-1]).group()
    )
    hosts = _env_example()["DJANGO_ALLOWED_HOSTS"].split(",")

    with override_settings(ALLOWED_HOSTS=hosts, SECURE_SSL_REDIRECT=True):
        response = Client().get(url.path, headers={"host": url.netloc})

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_postgres_data_volume_is_mounted_where_the_18_image_keeps_its_data():
    volumes = _service("postgres")["volumes"]

    assert [volume.split(":")[1] for volume in volumes] == ["/var/lib/postgresql"]


# --- commands agree with the Procfile and with the code --------------------------------


def test_web_command_is_the_procfile_web_line_on_every_interface_behind_a_proxy():
    web = _service("web")["command"]
    procfile_web = _procfile()["web"]

    expected = _with_option(_with_option(procfile_web, "--host", "0.0.0.0"), "--port", "8000")

    assert "--proxy-headers" in web
    assert [token for token in web if token != "--proxy-headers"] == expected


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_commands_are_the_procfile_lines(name):
    assert _service(name)["command"] == _procfile()[name]


def test_web_command_names_an_importable_asgi_application():
    target = next(token for token in _service("web")["command"] if re.match(r"^[\w.]+:\w+$", token))
    module_name, _, attribute = target.partition(":")

    application = getattr(importlib.import_module(module_name), attribute)

    assert f"{module_name}:{attribute}" == "mcn_console.asgi:application"
    assert callable(application)


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_commands_name_the_console_celery_app(name):
    command = _service(name)["command"]

    found = find_app(_option(command, "-A"))

    assert command[0] == "celery"
    assert found is console_celery_app


# --- Dockerfile --------------------------------------------------------------------------


def test_image_is_python_311_slim_and_runs_as_an_unprivileged_user():
    assert _dockerfile("FROM") == ["python:3.11-slim"]
    assert _dockerfile("USER")[-1] not in {"root", "0"}


def test_image_installs_the_project_within_the_constraints_without_dev_extras():
    pip_installs = [args for args in _dockerfile("RUN") if "pip install" in args]

    assert any(
        "pip install -c requirements/constraints.txt . " in f"{args} " for args in pip_installs
    )
    assert not any("[dev]" in args for args in pip_installs)


def test_dockerfile_default_command_is_the_compose_web_command():
    assert _dockerfile("ENTRYPOINT") == []
    assert [json.loads(args) for args in _dockerfile("CMD")] == [_service("web")["command"]]


def test_dockerfile_copies_files_that_exist_in_the_build_context():
    sources = [
        source
        for args in _dockerfile("COPY")
        for source in shlex.split(args)[:-1]
        if not source.startswith("--")
    ]

    assert sources
    assert [source for source in sources if not (BASE_DIR / source).exists()] == []
    assert [source for source in sources if _ignored_by_docker(source)] == []


def test_build_context_keeps_what_the_install_and_the_console_need_and_drops_secrets():
    needed = [
        "pyproject.toml",
        "README.md",
        "requirements/constraints.txt",
        "manage.py",
        "mcn_console/settings.py",
        "mcn_console/static/css/console.css",
        "mcn_console/templates/base.html",
        "rooms/migrations/0001_initial.py",
        "locale",
        "scripts",
        "support",
        "ads",
    ]

    assert [path for path in needed if _ignored_by_docker(path)] == []
    assert [path for path in needed if not (BASE_DIR / path).exists()] == []
    assert _ignored_by_docker(".env")
    assert _ignored_by_docker(".venv/bin/python")


def test_collectstatic_build_step_succeeds_on_the_build_context_with_its_placeholders(tmp_path):
    run = next(args for args in _dockerfile("RUN") if "collectstatic" in args)
    tokens = shlex.split(run)
    placeholders = dict(token.split("=", 1) for token in tokens if re.match(r"^[A-Z_]+=", token))
    command = [token for token in tokens if not re.match(r"^[A-Z_]+=", token)]
    context = tmp_path / "app"
    shutil.copytree(
        BASE_DIR,
        context,
        ignore=lambda folder, names: [
            name
            for name in names
            if _ignored_by_docker(Path(folder, name).relative_to(BASE_DIR).as_posix())
        ],
    )

    result = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=context,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(context), **placeholders},
        capture_output=True,
        text=True,
        check=False,
    )

    assert command[:2] == ["python", "manage.py"]
    assert set(placeholders) <= _settings_variables()
    assert result.returncode == 0, result.stderr
    assert (context / "staticfiles" / "staticfiles.json").is_file()


# --- .env.example ------------------------------------------------------------------------


def test_env_example_lists_every_variable_settings_reads():
    assert _settings_variables() - set(_env_example()) == set()


def test_env_example_holds_only_variables_settings_or_the_postgres_image_read():
    extra = set(_env_example()) - _settings_variables()

    assert extra == POSTGRES_IMAGE_VARIABLES
    assert set(_service("postgres")["environment"]) == POSTGRES_IMAGE_VARIABLES


def test_env_example_sets_each_variable_once():
    keys = [key for key, _ in _env_example_pairs()]

    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("key", sorted(_settings_variables()))
def test_env_example_says_what_each_settings_variable_is_and_its_default(key):
    comment = _comment_above(key)

    assert len(comment) > 20
    assert "Default" in comment or "Required" in comment


def test_compose_interpolates_only_variables_the_env_example_defines():
    names = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text()))

    assert names
    assert names <= _settings_variables() | POSTGRES_IMAGE_VARIABLES
    assert names <= set(_env_example())


def test_env_example_database_url_is_the_compose_postgres_with_its_credentials():
    example = _env_example()

    database = urlsplit(example["DATABASE_URL"])

    assert database.scheme == "postgres"
    assert database.hostname == "postgres"
    assert database.port == 5432
    assert database.username == example["POSTGRES_USER"]
    assert database.password == example["POSTGRES_PASSWORD"]
    assert database.path == f"/{example['POSTGRES_DB']}"


def test_env_example_redis_url_is_the_compose_redis():
    redis_url = urlsplit(_env_example()["REDIS_URL"])

    assert redis_url.scheme == "redis"
    assert redis_url.hostname == "redis"
    assert redis_url.hostname in _compose()["services"]


def test_env_example_trusts_https_origins_on_allowed_hosts():
    example = _env_example()
    origins = [urlsplit(origin) for origin in example["DJANGO_CSRF_TRUSTED_ORIGINS"].split(",")]

    assert {origin.scheme for origin in origins} == {"https"}
    assert {origin.hostname for origin in origins} <= set(
        example["DJANGO_ALLOWED_HOSTS"].split(",")
    )


# --- Django's deployment checks ----------------------------------------------------------


def _check_deploy(environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_passes_with_a_production_environment():
    environment = {
        "DJANGO_SETTINGS_MODULE": "mcn_console.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "console.example.com",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
    }

    result = _check_deploy(environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_check_deploy_passes_with_the_env_example_values_and_a_real_secret_key():
    environment = {
        **_env_example(),
        "DJANGO_SETTINGS_MODULE": "mcn_console.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    }

    result = _check_deploy(environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_env_example_secret_key_is_a_placeholder_the_deploy_check_rejects():
    environment = {**_env_example(), "DJANGO_SETTINGS_MODULE": "mcn_console.settings"}

    result = _check_deploy(environment)

    assert result.returncode == 1
    assert "security.W009" in result.stderr
