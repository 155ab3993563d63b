"""docker-compose.yml is a valid Compose file (the Compose Specification's JSON schema, as
vendored and kept current by the check-jsonschema package) and runs what the README says:
Neo4j, Redis, two API replicas behind one proxy port, every service with a health check."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text())  # type: ignore[no-any-return]


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(compose_schema())
    problems = [
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)
    ]
    assert not problems, problems


def test_the_schema_catches_mistakes(compose: dict[str, Any]) -> None:
    """The check has teeth: a misspelt key is refused."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["redis"]["helthcheck"] = broken["services"]["redis"].pop("healthcheck")
    assert not jsonschema.Draft202012Validator(compose_schema()).is_valid(broken)


def test_every_service_is_health_checked_and_dependencies_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"neo4j", "redis", "spiral", "proxy"} <= set(services)
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        for needed, how in service.get("depends_on", {}).items():
            assert needed in services and how["condition"] == "service_healthy", (name, needed)
    for name in ("spiral", "proxy"):
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"]), name


def test_two_api_replicas_behind_one_port(compose: dict[str, Any]) -> None:
    api, proxy = compose["services"]["spiral"], compose["services"]["proxy"]
    assert api["deploy"]["replicas"] == 2 and "ports" not in api  # replicas cannot share one
    assert proxy["ports"] == ["127.0.0.1:8000:8000"]
    assert "--proxy-headers" in api["command"]  # rate limits key by the real client address
    mount = next(v for v in proxy["volumes"] if v.startswith("./deploy/"))
    config = (ROOT / mount.split(":")[0]).read_text()
    assert "listen 8000;" in config and "http://spiral:8000" in config


def test_environment_names(compose: dict[str, Any]) -> None:
    env = compose["services"]["spiral"]["environment"]
    assert env["SPIRAL_REDIS_URL"] == "redis://redis:6379/0"
    for name in ("SPIRAL_STORE", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "SPIRAL_DEID_KEY"):
        assert name in env, name
    # every setting the README's scaling-out section names is set for the API
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Scaling out", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`((?:SPIRAL|NEO4J)_[A-Z_]+)", section))
    assert named and named <= set(env), named - set(env)
