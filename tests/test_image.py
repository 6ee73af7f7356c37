"""The container image: built by deploy/build-image.sh, run as its users run it, read from outside.

Needs a reachable docker daemon and root (debootstrap makes the base image once, nsenter
enters a container's network namespace); without them every test here is skipped and says
why. Containers run on the host's network bound to a loopback address, or in a network
namespace of their own (``--network none``: only a loopback interface) that the test enters
with nsenter to read them with pymodbus from the host. Every container is removed whatever
happens (``docker rm --force`` in a ``finally``).

Expected values come from Sungrow's documents, not from the product: input register 5000 is
the device type code, 0x0E03 for an SH10RT (hybrid protocol, models.csv) and 0x0126 for the
image's default SG5K-D.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import ModbusTcpClient

from tests.helpers import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "deploy" / "build-image.sh"
DEPLOYMENT = ROOT / "deploy" / "kubernetes" / "deployment.yaml"
COMPOSE = ROOT / "deploy" / "compose" / "docker-compose.yml"
TAG = "mock-sungrow:pytest"
BASE = "mock-sungrow-base:bookworm"
SH10RT, SG5K_D = 0x0E03, 0x0126
#: A cold build (debootstrap of the base, about a minute on its own) on a loaded machine.
BUILD_TIMEOUT = 1200
#: Start-up of a container on a loaded 2-core machine: generous, a deadline not a wait.
START_TIMEOUT = 90


def _docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def _missing_prerequisite() -> str | None:
    if shutil.which("docker") is None:
        return "docker is not installed (Debian: apt-get install docker.io)"
    if os.geteuid() != 0:
        return "needs root: debootstrap makes the base image, nsenter enters containers"
    if shutil.which("nsenter") is None:
        return "nsenter (util-linux) is not installed"
    info = _docker("info", timeout=60)
    if info.returncode != 0:
        return f"the docker daemon is not reachable: {info.stderr.strip()[-300:]}"
    if _docker("image", "inspect", BASE).returncode != 0 and shutil.which("debootstrap") is None:
        return f"neither the base image {BASE} nor debootstrap to make it is present"
    return None


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image, built once per run the way a user builds it (base image cached)."""
    reason = _missing_prerequisite()
    if reason:
        pytest.skip(reason)
    scratch = tmp_path_factory.mktemp("build-image")
    built = subprocess.run(["bash", str(BUILD), "--tag", TAG], capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT,
                           env={**os.environ, "PYTHON": sys.executable, "TMPDIR": str(scratch)})
    assert built.returncode == 0, f"build-image.sh failed:\n{built.stderr[-3000:]}"
    assert built.stdout.strip() == TAG  # the script prints the tag it built, and only that
    assert list(scratch.iterdir()) == []  # its build context (and any root file system) is gone
    return TAG


@contextmanager
def container(image: str, docker_args: Sequence[str] = (),
              command: Sequence[str] = ()) -> Iterator[str]:
    """A detached container (its name), removed on the way out whatever happened."""
    name = f"mock-sungrow-pytest-{uuid.uuid4().hex[:12]}"
    try:
        run = _docker("run", "--detach", "--name", name, "--label", "mock-sungrow-pytest=1",
                      *docker_args, image, *command)
        assert run.returncode == 0, f"docker run failed: {run.stderr}"
        yield name
    finally:
        _docker("rm", "--force", name)


def _inspect(name: str, template: str) -> str:
    result = _docker("inspect", "--format", template, name)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _fail_if_exited(name: str) -> None:
    if _inspect(name, "{{.State.Running}}") != "true":
        logs = _docker("logs", name)
        pytest.fail(f"container {name} exited ({_inspect(name, '{{.State.ExitCode}}')}): "
                    f"{logs.stdout[-1000:]} {logs.stderr[-2000:]}")


def ready_line(name: str) -> dict[str, Any]:
    """The server's ready line, from the container's stdout (its ports when bound to 0)."""
    def line() -> str | None:
        out = _docker("logs", name).stdout
        if "\n" in out:
            return out.split("\n", 1)[0]
        _fail_if_exited(name)
        return None

    data: dict[str, Any] = json.loads(wait_until(line, START_TIMEOUT, 0.2, "the ready line"))
    return data


def wait_healthy(name: str, probe: Sequence[str] | None = None) -> str:
    """Wait for the image's HEALTHCHECK (or run ``probe`` with docker exec) to pass."""
    def healthy() -> str | None:
        _fail_if_exited(name)
        if probe is None:
            if _inspect(name, "{{.State.Health.Status}}") != "healthy":
                return None
            latest: str = json.loads(_inspect(name, "{{json .State.Health.Log}}"))[-1]["Output"]
            return latest.strip()
        result = _docker("exec", name, *probe)
        return result.stdout.strip() if result.returncode == 0 else None

    verdict: str = wait_until(healthy, START_TIMEOUT, 0.5, f"container {name} turning healthy")
    return verdict


def stop(name: str) -> int:
    """``docker stop`` (SIGTERM) and the exit code the server chose."""
    assert _docker("stop", "--time", "30", name, timeout=60).returncode == 0
    return int(_inspect(name, "{{.State.ExitCode}}"))


_READ = """
import json, sys
from pymodbus.client import ModbusTcpClient
host, port, address, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
client = ModbusTcpClient(host, port=port, timeout=5, retries=1)
if not client.connect():
    sys.exit(f"cannot connect to {host}:{port}")
reply = client.read_input_registers(address - 1, count=count)
client.close()
if reply.isError():
    sys.exit(f"an error reply: {reply}")
print(json.dumps(reply.registers))
"""


_GET = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as reply:
    print(reply.read().decode())
"""


def _in_namespace(name: str, script: str, *args: str) -> str:
    """Run ``script`` with the host's Python inside the container's network namespace (where
    127.0.0.1 is the container's loopback): a client outside the container, on its network."""
    pid = _inspect(name, "{{.State.Pid}}")
    result = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", script, *args],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def read_in_namespace(name: str, port: int, address: int, count: int = 1) -> list[int]:
    """Input registers (documented numbers) read with pymodbus in the container's network."""
    registers: list[int] = json.loads(
        _in_namespace(name, _READ, "127.0.0.1", str(port), str(address), str(count)))
    return registers


def _uid(name: str) -> int:
    pid = _inspect(name, "{{.State.Pid}}")
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [row for row in status.splitlines() if row.startswith("Uid:")]
    return int(line.split()[1])


def _listener_ports(verdict: str) -> set[int]:
    """Ports out of the health check's ``healthy: N listeners accept: A:P, ...``."""
    return {int(item.rpartition(":")[2]) for item in verdict.split(": ", 2)[2].split(", ")}


def test_image_serves_an_sh10rt_read_from_outside(image: str) -> None:
    host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    command = ["serve", "--host", host, "--model", "SH10RT", "--modbus-port", "0",
               "--http-port", "0", "--no-control", "--status-interval", "0"]
    with container(image, ["--network", "host"], command) as name:
        ready = ready_line(name)
        assert set(ready) == {"modbus", "http", "devices"}
        modbus = ready["modbus"]
        assert modbus["host"] == host
        inverter, battery = ready["devices"]  # a hybrid: its SBR battery answers unit 200
        assert (inverter["model"], inverter["unit"], battery["unit"]) == ("SH10RT", 1, 200)
        assert inverter["endpoints"]["modbus"] == {"host": host, "port": modbus["port"]}
        client = ModbusTcpClient(host, port=modbus["port"], timeout=5, retries=1)
        try:
            assert client.connect()
            assert client.read_input_registers(4999, count=1).registers == [SH10RT]
        finally:
            client.close()
        web = ready["http"]
        with urllib.request.urlopen(f"http://{host}:{web['port']}/inverter/list",
                                    timeout=10) as reply:
            assert json.load(reply)["result_data"]["list"][0]["dev_code"] == SH10RT
        assert _uid(name) != 0
        assert stop(name) == 0  # SIGTERM stops the server cleanly


def test_default_command_serves_all_addresses_and_turns_healthy(image: str) -> None:
    with container(image, ["--network", "none", "--health-interval", "1s"]) as name:
        ready = ready_line(name)  # start-up is over: every front end listens
        assert set(ready) == {"modbus", "http", "devices"}  # no control API unless asked
        verdict = wait_healthy(name)
        assert verdict == "healthy: 2 listeners accept: 0.0.0.0:5020, 0.0.0.0:8082"
        assert ready["modbus"] == {"host": "0.0.0.0", "port": 5020, "connection_type": "modbus"}
        assert read_in_namespace(name, 5020, 5000) == [SG5K_D]
        assert _uid(name) == 10001
        assert _inspect(name, "{{.Config.User}}") == "10001:10001"
        assert stop(name) == 0


def _pod_flags(pod: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """docker run flags for what the pod's security contexts ask of the runtime."""
    security = {**pod.get("securityContext", {}), **spec.get("securityContext", {})}
    flags = ["--user", f"{security['runAsUser']}:{security['runAsGroup']}"]
    if security.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    for cap in security.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", cap]
    if security.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    for mount in spec.get("volumeMounts", []):
        flags += ["--tmpfs", mount["mountPath"]]
    return flags


def test_the_kubernetes_pod_spec_runs_in_the_image(image: str) -> None:
    """The Deployment's arguments and security contexts, on the image; its probes pass."""
    pod = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]
    (spec,) = pod["containers"]
    flags = ["--network", "none", *_pod_flags(pod, spec)]
    with container(image, flags, spec["args"]) as name:
        ready_line(name)  # start-up is over: every front end listens
        verdict = wait_healthy(name, spec["readinessProbe"]["exec"]["command"])
        declared = {p["name"]: p["containerPort"] for p in spec["ports"]}
        control = int(spec["args"][spec["args"].index("--control-port") + 1])
        assert _listener_ports(verdict) == {*declared.values(), control}
        assert read_in_namespace(name, declared["modbus"], 5000) == [SH10RT]
        # The control API answers a loopback client in the pod's network, which is where
        # kubectl port-forward connects from.
        info = json.loads(_in_namespace(name, _GET, f"http://127.0.0.1:{control}/info"))
        assert info["model"] == "SH10RT"
        assert _uid(name) == pod["securityContext"]["runAsUser"]
        assert stop(name) == 0


def test_the_compose_inverter_serves_the_port_sungather_reads(image: str) -> None:
    """The compose example's inverter service, as compose would run it, on SunGather's port."""
    compose = yaml.safe_load(COMPOSE.read_text())
    service = compose["services"]["inverter"]
    flags = ["--network", "none"]
    for key, value in service.get("sysctls", {}).items():
        flags += ["--sysctl", f"{key}={value}"]
    if service.get("read_only"):
        flags.append("--read-only")
    for path in service.get("tmpfs", []):
        flags += ["--tmpfs", path]
    for cap in service.get("cap_drop", []):
        flags += ["--cap-drop", cap]
    for option in service.get("security_opt", []):
        flags += ["--security-opt", option]
    (volume,) = compose["services"]["sungather"]["volumes"]
    config = yaml.safe_load((COMPOSE.parent / volume.split(":")[0]).read_text())["inverter"]
    with container(image, flags, service["command"]) as name:
        ready_line(name)  # start-up is over: every front end listens
        verdict = wait_healthy(name, ["/opt/mock-sungrow/bin/python",
                                      "/opt/mock-sungrow/healthcheck.py"])
        assert config["port"] in _listener_ports(verdict)
        assert read_in_namespace(name, config["port"], 5000) == [SH10RT]
        assert _uid(name) == 10001  # the real ports, bound without root
        assert stop(name) == 0
