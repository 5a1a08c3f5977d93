"""The image, deploy/compose.yaml and deploy/k8s/, validated without a Docker engine or a
cluster (docs/deploy.md, "Validation").

- ``Dockerfile``: its structure (two stages on python:3.11-slim, a non-root user, the
  model in the installed package, one entry point) and what ``.dockerignore`` lets in.
- ``deploy/compose.yaml``: the Compose Specification's JSON schema (check-jsonschema's
  vendored copy, ``vendor.compose-spec``), then what a schema cannot see: references
  between services, health checks on paths the processes serve, Prometheus's targets.
- ``deploy/k8s``: ``kubectl kustomize`` (or ``kustomize build``) renders it, every
  manifest validates against the Kubernetes schemas (kubernetes-validate, strict), and
  probes, ports, settings, security contexts and scaling objects agree with the code.

Nothing here skips: a missing tool fails with how to get it.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml

from kioskpulse.settings import Settings
from kioskpulse.topics import topic_specs
from tests.support.tools import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = REPO / "deploy" / "compose.yaml"
K8S = REPO / "deploy" / "k8s"
K8S_SCRAPE = K8S / "prometheus-scrape.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
KAFKA_POM = REPO / "deploy" / "kafka" / "pom.xml"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
MODEL = REPO / "vision" / "models" / "fer_mini_xception.onnx"
CHECK_JSONSCHEMA = [sys.executable, "-m", "check_jsonschema"]

#: The Kubernetes version the manifests are validated against (kubernetes-validate).
KUBERNETES_VERSION = "1.30.0"
PROCESSES = ("api", "worker", "exporter")
SETTINGS = {f"KIOSKPULSE_{name.upper()}" for name in Settings.model_fields}
DEFAULTS = Settings.model_construct()


# --------------------------------------------------------------------------- what runs


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """The GET paths each process serves, from its code: the API's and the exporter's
    FastAPI apps as built for real (their OpenAPI paths), the worker's faust pages
    (``@app.page`` in stream_processors/faust_app.py)."""
    from kiosk_api import create_app
    from stream_processors.exporter.app import create_exporter_app
    from stream_processors.exporter.run import build_exporter

    settings = Settings(bus="memory", devices_file=tmp_path_factory.mktemp("d") / "d.yaml")

    def get_paths(app: Any) -> set[str]:
        # The app's own description of its routes (included routers and all).
        paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
        return {path for path, operations in paths.items() if "get" in operations}

    source = (REPO / "stream_processors" / "faust_app.py").read_text()
    pages = {
        decorator.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
        for decorator in node.decorator_list
        if isinstance(decorator, ast.Call)
        and ast.unparse(decorator.func) == "app.page"
        and isinstance(decorator.args[0], ast.Constant)
    }
    return {
        "api": get_paths(create_app(settings)),
        "exporter": get_paths(create_exporter_app(*build_exporter(settings))),
        "worker": pages,
    }


def test_the_processes_serve_their_health_paths(served: dict[str, set[str]]) -> None:
    # What the probes below rely on; if a route moves, the probes must move with it.
    assert {"/healthz", "/readyz", "/metrics"} <= served["api"]
    assert {"/healthz", "/readyz", "/metrics"} <= served["exporter"]
    assert {"/readyz", "/metrics"} <= served["worker"]


def _listen_port(args: list[str]) -> int:
    """The port a ``kioskpulse api|worker|exporter ...`` command line listens on."""
    process = args[0]
    flag = "--web-port" if process == "worker" else "--port"
    if flag in args:
        return int(args[args.index(flag) + 1])
    return {
        "api": 8000,
        "worker": DEFAULTS.faust_web_port,
        "exporter": DEFAULTS.exporter_port,
    }[process]


# --------------------------------------------------------------------------- Dockerfile


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        keyword, _, rest = (current + stripped).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return instructions


def _stages() -> list[dict[str, Any]]:
    """Each stage: its base image (global ARGs resolved), its name and its instructions."""
    global_args: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    for keyword, rest in _instructions():
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append({"base": base, "name": name, "instructions": []})
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1]["instructions"].append((keyword, rest))
    return stages


def _of(stage: dict[str, Any], keyword: str) -> list[str]:
    return [rest for kw, rest in stage["instructions"] if kw == keyword]


def _image_user() -> str:
    users = _of(_stages()[-1], "USER")
    assert users, "the runtime stage sets no USER: the processes would run as root"
    return users[-1].split(":")[0]


def test_the_image_is_built_in_a_builder_and_runs_from_python_slim() -> None:
    stages = _stages()
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    builder, runtime = stages[0], stages[-1]
    assert builder["name"], "the builder stage is named, so that the runtime copies from it"
    assert runtime["base"] == "python:3.11-slim"
    assert builder["base"] == runtime["base"], "the venv built in one runs in the other"
    # Only the built environment reaches the runtime stage: no source, no tool.
    copies = _of(runtime, "COPY")
    assert copies
    assert all(f"--from={builder['name']}" in copy for copy in copies), copies
    assert any("/opt/venv" in copy for copy in copies)
    assert any("/opt/venv/bin" in env for env in _of(runtime, "ENV"))


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    user = _image_user()
    # Numeric, so that Kubernetes can verify runAsNonRoot without /etc/passwd.
    assert user.isdigit(), user
    assert int(user) != 0


def test_one_image_runs_every_process() -> None:
    runtime = _stages()[-1]
    (entrypoint,) = _of(runtime, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["kioskpulse"]
    (cmd,) = _of(runtime, "CMD")
    command = json.loads(cmd)
    assert command[0] == "api"
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104 (in a container)
    exposed = {int(port) for line in _of(runtime, "EXPOSE") for port in line.split()}
    assert exposed >= {
        _listen_port(command),
        _listen_port(["worker"]),
        _listen_port(["exporter"]),
    }
    # One health check cannot be right for three processes on three ports: compose and
    # Kubernetes probe each process instead.
    assert not _of(runtime, "HEALTHCHECK")


def test_the_image_contains_the_expression_model() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    # The wheel carries the model: package data of vision covers it...
    patterns = pyproject["tool"]["setuptools"]["package-data"]["vision"]
    relative = MODEL.relative_to(REPO / "vision").as_posix()
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), patterns
    # ...and it is the real file, not a Git LFS pointer.
    assert MODEL.stat().st_size > 100_000
    assert not MODEL.read_bytes().startswith(b"version https://git-lfs")
    builder = _stages()[0]
    copied = {rest.split()[0] for rest in _of(builder, "COPY")}
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= copied, "every installed package is copied into the builder"
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    runs = " ".join(_of(builder, "RUN"))
    assert "pip wheel" in runs
    # The build itself fails when the installed package lacks the model.
    assert "MODEL_PATH.is_file()" in runs


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its
    parents decides; ``!`` re-includes; ``**`` spans directories."""

    def regex(pattern: str) -> re.Pattern[str]:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out, i = out + pattern[i : end + 1], end + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return re.compile(out)

    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for raw in patterns:
        negated = raw.startswith("!")
        compiled = regex(raw.lstrip("!").strip("/"))
        if any(compiled.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_the_build_context_holds_the_sources_and_no_registry_or_clutter() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    needed = [
        path
        for copy in _of(_stages()[0], "COPY")
        if not copy.startswith("--from")
        for source in [copy.split()[0]]
        for path in (
            [p.relative_to(REPO).as_posix() for p in (REPO / source).rglob("*.py")]
            if (REPO / source).is_dir()
            else [source]
        )
    ]
    needed.append(MODEL.relative_to(REPO).as_posix())
    assert [path for path in needed if _ignored(path, patterns)] == []
    kept_out = [
        "devices.yaml",
        "deploy/devices/devices.yaml",
        ".kioskpulse-demo/tokens.yaml",
        "kioskpulse/tokens.yaml",
        ".venv/bin/python",
        ".git/config",
        ".tools/bin/promtool",
        "deploy/kafka/.state/data/meta.properties",
        "tests/conftest.py",
        "bench/ingest.py",
        "tools/model/convert_fer.py",
        "kioskpulse/__pycache__/cli.cpython-311.pyc",
        "kioskpulse.egg-info/PKG-INFO",
    ]
    assert [path for path in kept_out if not _ignored(path, patterns)] == []


# --------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def test_the_compose_file_follows_the_compose_specification() -> None:
    # check-jsonschema (dev extra) carries a copy of the compose-spec schema: no network.
    result = subprocess.run(
        [*CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_references_resolve(compose: dict[str, Any]) -> None:
    services = _services(compose)
    volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on a missing service {target}"
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no health check"
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (COMPOSE.parent / source).is_dir(), f"{name}: {source} does not exist"
            else:
                assert source in volumes, f"{name}: volume {source} is not declared"


def test_compose_runs_each_process_from_the_image(compose: dict[str, Any]) -> None:
    services = _services(compose)
    images = {services[process]["image"] for process in PROCESSES}
    assert len(images) == 1, "one image for every process"
    for process in PROCESSES:
        service = services[process]
        assert service["build"]["context"] == ".."
        assert service["command"][0] == process
        assert service.get("restart") == "unless-stopped", "a process that exits is restarted"
        if process != "worker":  # faust's web server binds every interface by itself
            assert service["command"][service["command"].index("--host") + 1] == "0.0.0.0"  # noqa: S104
        assert service["depends_on"]["kafka"] == {"condition": "service_healthy"}


def _healthcheck_url(service: dict[str, Any]) -> tuple[int, str]:
    test = " ".join(service["healthcheck"]["test"])
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/.-]*)", test)
    assert match, test
    return int(match.group(1)), match.group(2)


def test_compose_health_checks_probe_paths_the_processes_serve(
    compose: dict[str, Any], served: dict[str, set[str]]
) -> None:
    services = _services(compose)
    for process in PROCESSES:
        port, path = _healthcheck_url(services[process])
        assert port == _listen_port(services[process]["command"]), process
        assert path in served[process], f"{process} does not serve {path}"
        assert path == "/readyz", "healthy in compose means ready (it implies /healthz)"


def test_prometheus_scrapes_the_compose_services(compose: dict[str, Any]) -> None:
    services = _services(compose)
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ] + [
        target
        for alerting in config["alerting"]["alertmanagers"]
        for static in alerting["static_configs"]
        for target in static["targets"]
    ]
    assert targets
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert host in services, f"Prometheus's target {target} is no compose service"
        service = services[host]
        if host in PROCESSES:
            assert int(port) == _listen_port(service["command"]), target
        else:
            container_ports = {int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])}
            assert int(port) in container_ports, target
    # Prometheus and Alertmanager read the repository's configurations.
    assert "./prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert "./alertmanager:/etc/alertmanager:ro" in services["alertmanager"]["volumes"]
    grafana = services["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    assert "./grafana/dashboards:/var/lib/grafana/dashboards/kioskpulse:ro" in grafana


def test_compose_settings_are_kioskpulse_settings(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for process in PROCESSES:
        environment = services[process]["environment"]
        unknown = {key for key in environment if key not in SETTINGS}
        assert unknown == set(), f"{process}: no such setting {unknown}"
        host = environment["KIOSKPULSE_KAFKA_BOOTSTRAP"].split(":")[0]
        assert host == "kafka"
    kafka = services["kafka"]
    assert kafka["image"] == f"apache/kafka:{_kafka_version()}", "the local broker's version"
    settings = kafka["environment"]
    assert "PLAINTEXT://kafka:9092" in settings["KAFKA_ADVERTISED_LISTENERS"]
    # As on the local broker: only kioskpulse creates topics, with their settings.
    assert settings["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "kafka-data:/var/lib/kafka/data" in kafka["volumes"]
    assert settings["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"


def _kafka_version() -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", KAFKA_POM.read_text())
    assert match
    return match.group(1)


def test_compose_volumes_hold_the_registry_and_the_worker_state(compose: dict[str, Any]) -> None:
    services = _services(compose)
    registry_dir = str(
        PurePosixPath(services["api"]["environment"]["KIOSKPULSE_DEVICES_FILE"]).parent
    )
    for process in ("api", "exporter"):
        assert f"devices:{registry_dir}:ro" in services[process]["volumes"], process
    # The editor writes the same volume; `up` never starts it.
    devices = services["devices"]
    assert f"devices:{registry_dir}" in devices["volumes"]
    assert devices["profiles"] == ["tools"]
    assert devices["entrypoint"][:2] == ["kioskpulse", "devices"]
    assert "depends_on" not in devices
    worker = services["worker"]
    datadir = PurePosixPath(worker["environment"]["KIOSKPULSE_FAUST_DATADIR"])
    mounts = [v.split(":") for v in worker["volumes"]]
    assert any(
        source == "worker-data" and datadir.is_relative_to(target) for source, target in mounts
    )


# --------------------------------------------------------------------------- Kubernetes


def _kustomize() -> list[str]:
    for name, verb in (("kubectl", "kustomize"), ("kustomize", "build")):
        local = REPO / ".tools" / "bin" / name
        found = str(local) if local.is_file() else shutil.which(name)
        if found:
            return [found, verb, str(K8S)]
    pytest.fail(
        "neither kubectl nor kustomize is on PATH or in .tools/bin, and deploy/k8s needs one "
        "to render: install kubectl (https://kubernetes.io/docs/tasks/tools/; it is not in "
        "Debian's repositories) or kustomize (`go install "
        "sigs.k8s.io/kustomize/kustomize/v5@latest`, or a release binary from "
        "https://github.com/kubernetes-sigs/kustomize/releases) into .tools/bin or PATH",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    result = subprocess.run(
        _kustomize(), capture_output=True, text=True, timeout=120, check=False, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests if doc["kind"] == kind]


def _named(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [doc for doc in _of_kind(manifests, kind) if doc["metadata"]["name"] == name]
    return doc


def _workloads(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """api, worker and exporter: their Deployment or StatefulSet."""
    return {
        doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: doc
        for doc in manifests
        if doc["kind"] in ("Deployment", "StatefulSet")
    }


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _settings(manifests: list[dict[str, Any]]) -> dict[str, str]:
    (config_map,) = _of_kind(manifests, "ConfigMap")
    data: dict[str, str] = config_map["data"]
    return data


def test_the_manifests_render_every_part(manifests: list[dict[str, Any]]) -> None:
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in manifests)
    names = {(kind, re.sub(r"-[a-z0-9]{10}$", "", name)) for kind, name in kinds}
    assert names == {
        ("Namespace", "kioskpulse"),
        ("ConfigMap", "kioskpulse-settings"),
        ("Secret", "kioskpulse-devices"),
        ("Deployment", "kioskpulse-api"),
        ("Service", "kioskpulse-api"),
        ("HorizontalPodAutoscaler", "kioskpulse-api"),
        ("PodDisruptionBudget", "kioskpulse-api"),
        ("StatefulSet", "kioskpulse-worker"),
        ("Service", "kioskpulse-worker"),
        ("PodDisruptionBudget", "kioskpulse-worker"),
        ("Deployment", "kioskpulse-exporter"),
        ("Service", "kioskpulse-exporter"),
        ("PodDisruptionBudget", "kioskpulse-exporter"),
    }
    assert sorted(_workloads(manifests)) == sorted(PROCESSES)
    # One image, tagged with the project's version (an overlay points it at a registry).
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    images = {_container(workload)["image"] for workload in _workloads(manifests).values()}
    assert images == {f"kioskpulse:{version}"}
    for doc in manifests:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "kioskpulse", doc["metadata"]["name"]


def test_every_manifest_validates_against_the_kubernetes_schemas(
    manifests: list[dict[str, Any]],
) -> None:
    import kubernetes_validate

    failures = []
    for doc in manifests:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert failures == []


def test_the_probes_point_at_paths_the_processes_serve(
    manifests: list[dict[str, Any]], served: dict[str, set[str]]
) -> None:
    readiness_timeout = float(
        _settings(manifests).get(
            "KIOSKPULSE_READINESS_TIMEOUT_SECONDS", DEFAULTS.readiness_timeout_seconds
        )
    )
    for process, workload in _workloads(manifests).items():
        container = _container(workload)
        port_numbers = {p["name"]: p["containerPort"] for p in container["ports"]}
        listening = _listen_port(container["args"])
        assert container["args"][0] == process
        if process != "worker":
            assert container["args"][container["args"].index("--host") + 1] == "0.0.0.0"  # noqa: S104
        probes = {
            kind: container[kind]
            for kind in ("startupProbe", "livenessProbe", "readinessProbe")
            if kind in container
        }
        assert {"livenessProbe", "readinessProbe"} <= set(probes), process
        for kind, probe in probes.items():
            path, port = probe["httpGet"]["path"], probe["httpGet"]["port"]
            assert path in served[process], f"{process} {kind}: {path} is not served"
            assert port_numbers.get(port, port) == listening, f"{process} {kind}: port {port}"
        assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
        if process != "worker":
            assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
        else:
            # The worker has no /healthz, and /readyz turns 503 during any broker outage:
            # a liveness probe on it would restart every worker while the broker is away.
            assert probes["livenessProbe"]["httpGet"]["path"] != "/readyz"
        if process in ("api", "worker"):
            # /readyz waits up to the readiness timeout for a broker before it answers.
            assert probes["readinessProbe"]["timeoutSeconds"] > readiness_timeout, process
        if process in ("worker", "exporter"):
            # Their HTTP servers start only once the broker answers: liveness must wait.
            assert "startupProbe" in probes, process


def test_pods_run_as_the_images_user_without_privileges(manifests: list[dict[str, Any]]) -> None:
    user = int(_image_user())
    for process, workload in _workloads(manifests).items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, process
        assert pod["securityContext"]["runAsNonRoot"] is True, process
        assert pod["securityContext"]["runAsUser"] == user, process
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        container = _container(workload)
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, process
        assert context["allowPrivilegeEscalation"] is False, process
        assert context["capabilities"]["drop"] == ["ALL"], process
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) >= {"cpu", "memory"}, (process, kind)
        writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        claims = {
            claim["metadata"]["name"] for claim in workload["spec"].get("volumeClaimTemplates", [])
        }
        persistent = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in claims}
        assert writable - persistent == {"/tmp"}, process  # noqa: S108 (an emptyDir)


def test_service_variables_cannot_shadow_settings(manifests: list[dict[str, Any]]) -> None:
    # Kubernetes gives every pod <SERVICE>_SERVICE_HOST, <SERVICE>_PORT, ... for each
    # Service of its namespace: kioskpulse-exporter would set KIOSKPULSE_EXPORTER_PORT to
    # tcp://10.x.x.x:9108 and the exporter would refuse to start.
    injected = {
        f"{service['metadata']['name'].upper().replace('-', '_')}_{suffix}"
        for service in _of_kind(manifests, "Service")
        for suffix in ("SERVICE_HOST", "SERVICE_PORT", "PORT")
    }
    shadowed = injected & SETTINGS
    for process, workload in _workloads(manifests).items():
        assert workload["spec"]["template"]["spec"]["enableServiceLinks"] is False, (
            f"{process}: service links would set {sorted(shadowed)}"
        )


def test_the_settings_are_kioskpulse_settings(manifests: list[dict[str, Any]]) -> None:
    settings = _settings(manifests)
    assert set(settings) <= SETTINGS, set(settings) - SETTINGS
    assert settings["KIOSKPULSE_KAFKA_BOOTSTRAP"], "the platform's Kafka (a placeholder)"
    config_map = _of_kind(manifests, "ConfigMap")[0]["metadata"]["name"]
    for process, workload in _workloads(manifests).items():
        container = _container(workload)
        assert {"configMapRef": {"name": config_map}} in container["envFrom"], process
        assert container.get("env", []) == [], f"{process}: settings come from the ConfigMap"


def test_the_registry_and_the_worker_state_are_mounted_where_the_settings_say(
    manifests: list[dict[str, Any]],
) -> None:
    settings = _settings(manifests)
    registry = PurePosixPath(settings["KIOSKPULSE_DEVICES_FILE"])
    secret = _named(manifests, "Secret", "kioskpulse-devices")
    assert set(secret["data"]) == {registry.name}
    workloads = _workloads(manifests)
    for process in ("api", "exporter"):
        pod = workloads[process]["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        (mount,) = [
            m
            for m in _container(workloads[process])["volumeMounts"]
            if m["name"] in {name for name, v in volumes.items() if "secret" in v}
        ]
        assert volumes[mount["name"]]["secret"]["secretName"] == "kioskpulse-devices"
        assert mount["mountPath"] == str(registry.parent), process
        assert mount["readOnly"] is True
        # A subPath mount would never see an updated Secret.
        assert "subPath" not in mount
    worker = workloads["worker"]
    datadir = PurePosixPath(settings["KIOSKPULSE_FAUST_DATADIR"])
    (claim,) = worker["spec"]["volumeClaimTemplates"]
    (mount,) = [
        m for m in _container(worker)["volumeMounts"] if m["name"] == claim["metadata"]["name"]
    ]
    assert datadir.is_relative_to(mount["mountPath"])
    assert (
        _named(manifests, "Service", worker["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    )


def _selects(selector: dict[str, str], workload: dict[str, Any]) -> bool:
    labels = workload["spec"]["template"]["metadata"]["labels"]
    return all(labels.get(key) == value for key, value in selector.items())


def test_scaling_objects_fit_their_workloads(manifests: list[dict[str, Any]]) -> None:
    workloads = _workloads(manifests)
    (hpa,) = _of_kind(manifests, "HorizontalPodAutoscaler")
    api = workloads["api"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": api["kind"],
        "name": api["metadata"]["name"],
    }
    assert "replicas" not in api["spec"], "the HorizontalPodAutoscaler owns the API's count"
    assert hpa["spec"]["minReplicas"] >= 2
    replicas = {
        process: hpa["spec"]["minReplicas"] if process == "api" else workload["spec"]["replicas"]
        for process, workload in workloads.items()
    }
    # Workers beyond the partitions of the input topics would stay idle.
    assert replicas["worker"] <= int(_settings(manifests)["KIOSKPULSE_TOPIC_PARTITIONS"])
    covered = set()
    for budget in _of_kind(manifests, "PodDisruptionBudget"):
        selected = [
            p
            for p, w in workloads.items()
            if _selects(budget["spec"]["selector"]["matchLabels"], w)
        ]
        assert len(selected) == 1, budget["metadata"]["name"]
        (process,) = selected
        covered.add(process)
        # A budget that allows no eviction would block every node drain.
        spec = budget["spec"]
        if "minAvailable" in spec:
            assert spec["minAvailable"] < replicas[process], process
        else:
            assert spec["maxUnavailable"] >= 1, process
    assert covered == set(PROCESSES)
    for service in _of_kind(manifests, "Service"):
        selected = [p for p, w in workloads.items() if _selects(service["spec"]["selector"], w)]
        assert len(selected) == 1, service["metadata"]["name"]
        ports = {p["name"]: p["containerPort"] for p in _container(workloads[selected[0]])["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]


def _expand(template: str, groups: tuple[str | None, ...]) -> str:
    """A relabelling replacement with ``$1`` / ``${1}`` filled in."""
    return re.sub(r"\$\{?(\d+)\}?", lambda ref: groups[int(ref.group(1))] or "", template)


def _relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus's keep and replace relabelling (enough for the scrape job we ship)."""
    labels = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(
            labels.get(name, "") for name in rule.get("source_labels", [])
        )
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        action = rule.get("action", "replace")
        if action == "keep":
            if not match:
                return None
        elif action == "replace":
            if match:
                groups = (match.group(0), *match.groups())
                labels[rule["target_label"]] = _expand(rule.get("replacement", "$1"), groups)
        else:
            raise AssertionError(f"unexpected relabel action {action}")
    return labels


def test_the_platform_scrape_job_finds_each_process_as_the_rules_expect(
    manifests: list[dict[str, Any]], served: dict[str, set[str]]
) -> None:
    (job,) = yaml.safe_load(K8S_SCRAPE.read_text())["scrape_configs"]
    expected_jobs = {
        j["job_name"] for j in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    }

    def meta(kind: str, name: str) -> str:
        return f"__meta_kubernetes_pod_{kind}_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)

    for process, workload in _workloads(manifests).items():
        template = workload["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] in served[process]
        assert annotations["prometheus.io/path"] == "/metrics"
        # Prometheus's pod discovery: one target per declared container port.
        for port in _container(workload)["ports"]:
            labels = {
                "__address__": f"10.0.0.1:{port['containerPort']}",
                "__metrics_path__": "/metrics",
                "job": job["job_name"],
            }
            labels |= {meta("annotation", k): v for k, v in annotations.items()}
            labels |= {meta("label", k): v for k, v in template["metadata"]["labels"].items()}
            result = _relabel(labels, job["relabel_configs"])
            assert result is not None, process
            assert result["__address__"] == f"10.0.0.1:{_listen_port(_container(workload)['args'])}"
            assert result["__metrics_path__"] == "/metrics"
            assert result["job"] in expected_jobs, result["job"]
            assert result["job"] == f"kioskpulse-{process}"


# --------------------------------------------------------------------------- docs


def test_the_deployment_guide_lists_every_topic_and_its_settings() -> None:
    text = DEPLOY_DOC.read_text()
    for spec in topic_specs(DEFAULTS):
        assert f"`{spec.name}`" in text, spec.name
        for key, value in spec.config.items():
            assert key in text, (spec.name, key)
            if not value.isdigit():
                assert value in text, (spec.name, value)


def _iter_yaml_blocks(text: str) -> Iterator[str]:
    for match in re.finditer(r"```yaml\n(.*?)```", text, re.DOTALL):
        yield match.group(1)


def test_the_guides_yaml_examples_parse() -> None:
    blocks = list(_iter_yaml_blocks(DEPLOY_DOC.read_text()))
    assert blocks
    for block in blocks:
        assert yaml.safe_load(block) is not None
