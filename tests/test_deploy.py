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


# --------------------------------------------------------------------------- the fleet

FLEET = KUBERNETES / "fleet"


def _fleet_documents() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in sorted(FLEET.glob("*.yaml"))
            if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _fleet(kind: str) -> dict[str, Any]:
    (doc,) = [d for _name, d in _fleet_documents() if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_fleet_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    docs = _fleet_documents()
    assert sorted(doc["kind"] for _name, doc in docs) == ["Service", "StatefulSet"]
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']} is not valid "
                        f"Kubernetes {version}: {exc.message} at {list(exc.path)}")


def test_the_fleet_kustomization_lists_its_manifests_and_generates_the_fleet_file() -> None:
    kustomization = yaml.safe_load((FLEET / "kustomization.yaml").read_text())
    files = {p.name for p in FLEET.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    (generated,) = kustomization["configMapGenerator"]
    volumes = {v["name"]: v for v in _fleet("StatefulSet")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["fleet"]["configMap"]["name"] == generated["name"]
    assert generated["files"] == ["fleet.toml"] and (FLEET / "fleet.toml").is_file()


def test_the_headless_service_names_every_pod_of_the_statefulset() -> None:
    statefulset, service = _fleet("StatefulSet"), _fleet("Service")
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # Never the single site's pod: the Deployment's Services and this one select apart.
    assert not _deployment()["spec"]["template"]["metadata"]["labels"].items() >= \
        service["spec"]["selector"].items()
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    named = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= named


def test_each_pod_serves_its_shard_of_the_mounted_fleet_file() -> None:
    from mock_sungrow.fleet import FleetSpec
    from mock_sungrow.fleet.cli import parse_shard

    statefulset = _fleet("StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name"}
    replicas = statefulset["spec"]["replicas"]
    args = build_parser().parse_args(container["args"])
    assert args.command == "fleet" and args.host == "0.0.0.0"
    assert args.shard_index == "$(POD_NAME)" and args.shard_count == replicas
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert Path(args.file).parent == Path(mounts["fleet"])
    spec = FleetSpec.from_file(FLEET / Path(args.file).name)
    name = statefulset["metadata"]["name"]
    served = []
    for ordinal in range(replicas):  # what Kubernetes substitutes for $(POD_NAME)
        pod_args = [f"{name}-{ordinal}" if a == "$(POD_NAME)" else a for a in container["args"]]
        index, count = parse_shard(build_parser().parse_args(pod_args))
        assert (index, count) == (ordinal, replicas)
        shard = spec.shard(index, count)
        assert shard, f"pod {ordinal} would serve no site"
        served += [s.id for s in shard]
    assert served == [s.id for s in spec.sites()]
    # Unprivileged: every port of every site is 1024 or more, and fixed by the file.
    ports = [p for s in spec.sites() for inv in s.installation.inverters
             for p in inv.ports.values()]
    assert min(ports) >= 1024 and len(set(ports)) == len(ports)
    # Ready once the endpoints file exists, which the fleet writes when every site accepts.
    assert args.endpoints_out in container["readinessProbe"]["exec"]["command"][-1]
    assert Path(args.endpoints_out).parent == Path(mounts["tmp"])
    assert not args.no_control and not args.control_allow_remote
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert declared[container["livenessProbe"]["tcpSocket"]["port"]] == args.control_port
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
