"""Exposure, statically: nothing the lab starts listens beyond 127.0.0.1, JupyterLab asks for a token.

tests/unit/deploy/test_compose.py already checks that every port the
compose file publishes is bound to 127.0.0.1 and that its JupyterLab always has a token;
this file adds what it does not cover:
- the local cluster's generated server.properties, for any base port: every listener,
  advertised listener and controller voter is on 127.0.0.1 (no wildcard, no hostname);
- no compose service escapes the port bindings with host networking;
- `make lab` binds JupyterLab to 127.0.0.1 and never disables its token or password.
The running processes are checked in tests/integration/kafka/test_exposure.py.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from kafkalab import config as lab_config
from kafkalab.transports.kafka.cluster import LocalCluster

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = "127.0.0.1"
# Settings that turn JupyterLab's authentication off, however they are spelled.
AUTH_OFF = re.compile(r"(token|password)\s*=\s*(''|\"\"|\s|$)|disable_check_xsrf|allow_unauthenticated_access|"
                      r"--ip[= ]+(0\.0\.0\.0|\*|::|''|\"\")(?=\s|$)|allow_remote_access", re.IGNORECASE)


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _hosts(value: str) -> list[str]:
    """Hosts named in 'NAME://host:port,...' or 'id@host:port,...' lists."""
    hosts = []
    for item in value.split(","):
        address = item.split("://", 1)[1] if "://" in item else item.split("@", 1)[1]
        hosts.append(address.rsplit(":", 1)[0])
    return hosts


@pytest.mark.parametrize("base_port, nodes", [(9092, 3), (27092, 3), (40000, 5)])
def test_every_broker_and_controller_address_is_loopback(tmp_path, base_port, nodes):
    base = lab_config.load({lab_config.ENV_HOME: str(tmp_path)}).cluster
    cluster = LocalCluster(replace(base, base_port=base_port, node_count=nodes), echo=lambda _: None)
    for node in range(1, nodes + 1):
        props = _props(cluster._server_properties(node))
        for key in ("listeners", "advertised.listeners", "controller.quorum.voters"):
            hosts = _hosts(props[key])
            assert hosts and all(h == LOOPBACK for h in hosts), f"node {node} {key}={props[key]}"
        # nothing else in the file names an address that could widen the binding
        others = {k: v for k, v in props.items() if k not in ("listeners", "advertised.listeners",
                                                              "controller.quorum.voters")}
        assert not [k for k, v in others.items() if "0.0.0.0" in v or "://" in v], others


def test_no_compose_service_uses_host_networking():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        assert service.get("network_mode") not in ("host",), f"{name}: host networking bypasses the 127.0.0.1 bindings"
        assert not service.get("expose") or all(":" not in str(p) for p in service["expose"]), name


def _make_lab_commands() -> list[str]:
    """`make -n lab`: the commands `make lab` would run, variables expanded, nothing executed."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "--no-print-directory", "lab"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.replace("\\\n", " ").splitlines()


def test_make_lab_binds_jupyterlab_to_loopback_with_a_token():
    jupyter = [line for line in _make_lab_commands() if re.search(r"\bjupyter(-lab)?\b.*\blab\b", line)]
    assert len(jupyter) == 1, jupyter
    argv = shlex.split(jupyter[0])
    joined = " ".join(argv)
    assert "--ip" in argv and argv[argv.index("--ip") + 1] == LOOPBACK or f"--ip={LOOPBACK}" in argv, joined
    assert not AUTH_OFF.search(joined), f"`make lab` must not open JupyterLab without a token: {joined}"
    assert "--ServerApp.port_retries=0" in argv, "a taken port must fail, not move JupyterLab elsewhere"


def test_auth_off_pattern_catches_the_usual_spellings():
    for bad in ("--ServerApp.token=''", "--NotebookApp.token= --x", '--IdentityProvider.token=""',
                "--ip 0.0.0.0", "--ip=*", "--ip ''", "--ServerApp.password=''", "--ServerApp.disable_check_xsrf=True",
                "--ServerApp.allow_remote_access=True"):
        assert AUTH_OFF.search(bad), bad
    assert not AUTH_OFF.search("jupyter lab --ip 127.0.0.1 --port 8888 --ServerApp.token=s3cret")
