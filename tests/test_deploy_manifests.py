"""The deployment files parse, probe and limit every process, and hold no secret value."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SERVICES = ("iam", "enablement", "istanze", "notifier")
# Settings whose value is a secret (or holds one, like a URL with a password).
SECRET_NAME = re.compile(r"PASSWORD|SECRET|PRIVATE|DATABASE_URL|BROKER_URL|RATELIMIT_STORAGE|TOKEN")
# In compose: values that must come from deploy/.env with no default (optional ones may be empty).
SECRET_VALUE = re.compile(r"PASSWORD|SECRET|PRIVATE|TOKEN")
OPTIONAL_SECRETS = {"NOTIFIER_SMTP_PASSWORD"}


def k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        # kustomization.yaml is tooling, not an object of the cluster.
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc and "metadata" in doc]
    return documents


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in k8s_documents() if doc["kind"] == kind]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert list(yaml.safe_load_all(path.read_text()))


def test_every_deployment_container_has_probes_and_resources() -> None:
    deployments = of_kind("Deployment")
    assert deployments
    for deployment in deployments:
        for container in containers(deployment):
            name = f"{deployment['metadata']['name']}/{container['name']}"
            assert "readinessProbe" in container, name
            assert "livenessProbe" in container, name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name


def test_web_deployments_probe_readyz_and_healthz() -> None:
    webs = [
        d for d in of_kind("Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "web"
    ]
    assert {d["metadata"]["name"] for d in webs} == {f"{s}-web" for s in SERVICES} | {"gateway"}
    for web in webs:
        (container,) = containers(web)
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_every_service_has_a_worker_a_migration_job_a_service_and_an_autoscaler() -> None:
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in k8s_documents()}
    for service in SERVICES:
        assert ("Deployment", f"{service}-worker") in names
        assert ("Job", f"{service}-migrate") in names
        assert ("Service", service) in names
        assert ("HorizontalPodAutoscaler", f"{service}-web") in names
    assert ("Ingress", "gateway") in names


def test_no_secret_value_is_committed_in_kubernetes_manifests() -> None:
    documents = k8s_documents()
    assert not [doc for doc in documents if doc["kind"] == "Secret"], "Secrets are created, never committed"
    for doc in documents:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in containers(doc):
            for variable in container.get("env", []):
                if SECRET_NAME.search(variable["name"]):
                    assert "value" not in variable, f"{doc['metadata']['name']}: {variable['name']} in clear"
                    assert "secretKeyRef" in variable["valueFrom"], variable["name"]


def test_every_compose_service_has_a_healthcheck_and_one_shots_do_not_restart() -> None:
    services = compose()["services"]
    for name, service in services.items():
        assert "healthcheck" in service, name
        if service["healthcheck"].get("disable"):
            assert service.get("restart") == "no", f"{name}: only one-shot jobs may go without a healthcheck"
    for service in SERVICES:
        assert {f"{service}-web", f"{service}-worker", f"{service}-migrate"} <= set(services)


def test_compose_builds_every_service_from_a_dockerfile_in_the_repository() -> None:
    for name, service in compose()["services"].items():
        if "build" in service:
            assert service["build"]["context"] == "..", name
            assert (ROOT / service["build"]["dockerfile"]).is_file(), name


def test_compose_takes_every_secret_from_the_env_file_without_a_default() -> None:
    for name, service in compose()["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            value = str(value)
            if SECRET_VALUE.search(variable) and variable not in OPTIONAL_SECRETS:
                assert value.startswith(f"${{{variable}:?"), f"{name}: {variable} must be required from .env"
            credentials = re.match(r"^[a-z+]+://([^@/]*)@", value)
            if credentials:
                assert "${" in credentials.group(1), f"{name}: {variable} holds a password in clear"
    example = (DEPLOY / ".env.example").read_text()
    for line in example.splitlines():
        if line and not line.startswith("#"):
            assert line.endswith("="), f".env.example must not hold values: {line}"


def _compose_environment(service: dict[str, Any]) -> dict[str, str]:
    """A container's environment as compose would give it, with a stand-in value for each ${VAR...}."""
    from polis.events import sealing

    stand_ins = {  # settings whose value is parsed, not just read, need a well-formed stand-in
        "NOTIFIER_SEALING_PUBLIC_KEY": sealing.DEV_PUBLIC_KEY,
        "NOTIFIER_SEALING_KEY_ID": sealing.DEV_KEY_ID,
        "NOTIFIER_SEALING_PRIVATE_KEYS": f"{sealing.DEV_KEY_ID}:{sealing.DEV_PRIVATE_KEY}",
        "PUBLIC_BASE_URL": "https://istanze.example",
    }

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        if name in stand_ins:
            return stand_ins[name]
        return default if match.group(2) == ":-" else f"stand-in-{name.lower()}"

    pattern = re.compile(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}")
    return {
        name: pattern.sub(substitute, str(value))
        for name, value in (service.get("environment") or {}).items()
    }


@pytest.mark.parametrize("name", ["iam-web", "enablement-web", "istanze-web", "notifier-web", "gateway"])
def test_compose_gives_each_process_every_setting_production_requires(name: str) -> None:
    """Settings fail closed in production (a missing secret stops the process): compose must give them all."""
    import subprocess
    import sys

    environment = _compose_environment(compose()["services"][name])
    assert environment.get("POLIS_ENV", "production") == "production"
    package = "gateway" if name == "gateway" else name.removesuffix("-web")
    loader = (
        "gateway.config import load_settings"
        if package == "gateway"
        else f"{package}.config import load_settings"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"from {loader}; load_settings()"],
        env={"PATH": "/usr/bin:/bin", **environment, "POLIS_ENV": "production"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-600:]
