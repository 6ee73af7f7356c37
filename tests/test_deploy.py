"""deploy/: the Kubernetes manifests, the compose example and the container health check.

The manifests are validated against the Kubernetes API schemas that ``kubernetes-validate``
bundles (offline, strict: an unknown or misspelt field fails), then checked for what a schema
cannot see: Services that reach named container ports, container ports that are the ones the
server's own argument parser binds, the real inverter ports on the Services. The image itself
is built and run in tests/test_image.py.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mock_sungrow.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
HEALTHCHECK = DEPLOY / "healthcheck.py"

#: The oldest Kubernetes whose schemas kubernetes-validate still bundles, and its newest.
KUBERNETES_VERSIONS = ("1.25", kubernetes_validate.latest_version())

#: `serve` flags -> the container port each one binds (names in deployment.yaml).
PORT_FLAGS = {"modbus_port": "modbus", "sungrow_port": "modbus-aes", "http_port": "winet-ws",
              "plain_http_port": "winet-http", "tls_port": "winet-tls"}


def _documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                yield path.name, doc


def _resources(kind: str) -> list[dict[str, Any]]:
    return [doc for _name, doc in _documents() if doc["kind"] == kind]


def _deployment() -> dict[str, Any]:
    (deployment,) = _resources("Deployment")
    return deployment


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    (container,) = containers
    return container


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    docs = list(_documents())
    assert {doc["kind"] for _name, doc in docs} == {"Deployment", "Service"}
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']} is not valid "
                        f"Kubernetes {version}: {exc.message} at {list(exc.path)}")


@pytest.mark.parametrize(("path", "value"), [
    (("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"), "5020"),
    (("spec", "template", "spec", "containers", 0, "securityContext", "runAsNonroot"), True),
    (("spec", "template", "spec", "containers", 0, "ports", 0), {"name": "modbus"}),
])
def test_the_validation_rejects_a_broken_deployment(path: tuple[str | int, ...],
                                                    value: object) -> None:
    """The check above can fail: a wrong type, a misspelt field, a missing required one."""
    broken = copy.deepcopy(_deployment())
    node: Any = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_services_select_the_pod_and_reach_named_container_ports() -> None:
    deployment = _deployment()
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    named = {p["name"]: p["containerPort"] for p in _container(deployment)["ports"]}
    for service in _resources("Service"):
        assert service["spec"]["selector"].items() <= pod_labels.items()
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in named, (
                f"Service {service['metadata']['name']} targets {port['targetPort']!r}, which "
                f"is not a container port of the Deployment ({sorted(named)})")


def test_services_offer_the_real_installation_ports() -> None:
    """In-cluster clients use the ports a real inverter and WiNet-S dongle have.

    502 is the inverter's plain Modbus TCP and the dongle's encrypted one; the dongle's
    WebSocket is on 8082 (SunGather forces it), getParam and i18n on 80 (SungrowModbusWebClient
    and sungrow-websocket hard-code it), HTTPS and WSS on 443 (spec/client-quirks.md, §2).
    """
    services = {s["metadata"]["name"]: {p["port"]: p["targetPort"] for p in s["spec"]["ports"]}
                for s in _resources("Service")}
    assert services == {
        "sungrow-inverter": {502: "modbus"},
        "sungrow-winet": {502: "modbus-aes", 8082: "winet-ws", 80: "winet-http",
                          443: "winet-tls"},
    }


def test_container_ports_are_the_ports_serve_binds() -> None:
    container = _container(_deployment())
    assert container["args"][0] == "serve"
    args = build_parser().parse_args(container["args"])
    assert args.host == "0.0.0.0"  # reachable through the Services
    assert args.server_type == "all" and not args.real_ports
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    bound = {PORT_FLAGS[flag]: getattr(args, flag) for flag in PORT_FLAGS}
    assert declared == bound
    # Non-root: nothing below 1024 inside the pod (the Services map the real ports).
    assert min(bound.values()) >= 1024
    # The control API runs (for kubectl port-forward) but is neither declared nor remote.
    assert not args.no_control and args.control_port not in declared.values()
    assert not args.control_allow_remote
    assert container["livenessProbe"]["tcpSocket"]["port"] in declared


def test_pod_runs_unprivileged_with_bounded_resources() -> None:
    deployment = _deployment()
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    # The TLS listener writes its throw-away certificate to a temporary file.
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}  # noqa: S108
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert container["readinessProbe"]["exec"]["command"][-1] == "/opt/mock-sungrow/healthcheck.py"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two plants at once


def test_dockerfile_copies_the_healthcheck_the_probes_run() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY healthcheck.py /opt/mock-sungrow/healthcheck.py" in dockerfile
    assert '"/opt/mock-sungrow/healthcheck.py"]' in dockerfile
    assert 'CMD ["serve", "--host", "0.0.0.0", "--no-control"]' in dockerfile


# --------------------------------------------------------------------------- compose example

def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _sungather_config(compose: dict[str, Any]) -> dict[str, Any]:
    (volume,) = compose["services"]["sungather"]["volumes"]
    source, target, _mode = volume.split(":")
    assert target == "/config/config.yaml"  # where SunGather's image reads its configuration
    path = COMPOSE.parent / source
    assert path.is_file(), f"{volume}: {path} does not exist"
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_compose_points_sungather_at_the_simulated_inverter() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"inverter", "sungather"}
    inverter = services["inverter"]
    args = build_parser().parse_args(inverter["command"])
    assert inverter["image"].startswith("mock-sungrow:") and args.host == "0.0.0.0"
    config = _sungather_config(compose)["inverter"]
    assert config["host"] == "inverter"  # the service name is its host name on the network
    connection = config["connection"]
    if connection == "modbus":
        assert args.server_type in ("modbus", "both", "modbus+sungrow", "all")
        assert config["port"] == args.modbus_port
    elif connection == "sungrow":
        assert args.server_type in ("sungrow", "modbus+sungrow", "http+sungrow", "all")
        assert config["port"] == args.sungrow_port
    else:
        pytest.fail(f"the example's connection is {connection!r}")
    # SunGather's `http` connection (the comment in its config offers it) needs 8082 and 80.
    assert args.server_type in ("both", "http", "http+sungrow", "all")
    assert (args.http_port, args.plain_http_port) == (8082, 80)
    # The image runs unprivileged: the ports below 1024 need the sysctl.
    lowest = min(p for p in (args.modbus_port, args.http_port, args.plain_http_port) if p)
    assert int(inverter["sysctls"]["net.ipv4.ip_unprivileged_port_start"]) <= lowest
    assert services["sungather"]["depends_on"]["inverter"]["condition"] == "service_healthy"


def test_compose_sungather_config_survives_yaml() -> None:
    """SunGather reads ``log_file: OFF`` unquoted as False (spec/client-quirks.md, §4)."""
    config = _sungather_config(_compose())
    assert config["inverter"]["log_file"] == "OFF"
    assert isinstance(config["inverter"]["slave"], int)
    assert [e["name"] for e in config["exports"] if e["enabled"]] == ["webserver"]


# --------------------------------------------------------------------------- the health check

def _healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HEALTHCHECK), *args], capture_output=True,
                          text=True, timeout=60)


def test_healthcheck_probes_every_listener_of_the_server() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_sungrow", "serve", "--model", "SH10RT", "--server-type",
         "all", "--modbus-port", "0", "--http-port", "0", "--sungrow-port", "0",
         "--plain-http-port", "0", "--tls-port", "0", "--control-port", "0",
         "--status-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        expected = {ready[kind]["port"] for kind in ("modbus", "http", "sungrow", "control")}
        expected |= {ready["http"]["plain_http_port"], ready["http"]["tls_port"]}
        result = _healthcheck("--pid", str(proc.pid))
        assert result.returncode == 0, result.stdout + result.stderr
        verdict = result.stdout.strip()
        assert verdict.startswith(f"healthy: {len(expected)} listeners accept: ")
        shown = {int(item.rpartition(":")[2]) for item in verdict.split(": ", 2)[2].split(", ")}
        assert shown == expected
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_healthcheck_fails_without_listeners_or_process() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE, text=True)
    try:
        result = _healthcheck("--pid", str(idle.pid))
    finally:
        idle.communicate("", timeout=30)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"unhealthy: process {idle.pid} has no listening TCP socket (yet)")
    gone = _healthcheck("--pid", str(idle.pid))  # the process has exited
    assert gone.returncode == 1 and "cannot read the sockets" in gone.stdout
