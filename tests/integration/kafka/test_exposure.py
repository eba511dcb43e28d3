"""Exposure, on the running processes.

- Every socket the test cluster's broker JVMs listen on is a loopback address (Kafka
  binds IPv4 listeners as IPv4-mapped IPv6, hence ::ffff:127.0.0.1).
- The JupyterLab command `make lab` runs (taken from `make -n lab`, on a free port)
  listens on 127.0.0.1 only, prints a generated token, refuses the API without it and
  accepts it with it.
Static checks (server.properties, compose, Makefile) are in tests/unit/kafka/test_exposure.py.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}

pytestmark = pytest.mark.timeout(180)


def listening(pid: int) -> list[tuple[str, int]]:
    return [(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]


def pid_listening_on(port: int) -> int | None:
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def test_brokers_listen_on_loopback_only(kafka_cluster):
    ports = [int(address.rsplit(":", 1)[1]) for address in kafka_cluster.bootstrap_servers.split(",")]
    if kafka_cluster.manager is not None:
        pids = [node.pid for node in kafka_cluster.manager.nodes()]
    else:
        pids = [pid_listening_on(port) for port in ports]
    assert all(pids), f"no process found for every broker: {pids}"
    for pid in pids:
        sockets = listening(pid)
        assert sockets, f"broker pid {pid} listens on nothing?"
        wide = [s for s in sockets if s[0] not in LOOPBACK]
        assert not wide, f"broker pid {pid} listens beyond loopback: {wide}"
    assert {port for pid in pids for _, port in listening(pid)} >= set(ports)


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_make_lab_jupyterlab_is_loopback_only_and_needs_its_token(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    port = _free_port()
    dry = subprocess.run(["make", "-n", "--no-print-directory", "lab", f"LAB_PORT={port}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    lines = [l for l in dry.stdout.replace("\\\n", " ").splitlines() if re.search(r"\bjupyter\b.*\blab\b", l)]
    assert len(lines) == 1, dry.stdout
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}  # the token must be generated
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    log = tmp_path / "jupyter.log"
    with log.open("w") as out:
        # the recipe sets an exit message first (`trap ... EXIT; jupyter lab ...`): run the server command itself
        command = re.search(r"\S*\bjupyter\s+lab\b.*", lines[0]).group(0)
        server = subprocess.Popen(shlex.split(command), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        token = None
        deadline = time.monotonic() + 120
        while token is None and time.monotonic() < deadline and server.poll() is None:
            found = re.search(rf"http://127\.0\.0\.1:{port}/\S*\?token=([0-9a-f]+)", log.read_text())
            token = found.group(1) if found else None
            time.sleep(0.5)
        assert token, f"JupyterLab printed no token URL: {log.read_text()[-2000:]}"
        sockets = listening(server.pid)
        assert (sockets and all(ip in LOOPBACK for ip, _ in sockets)), sockets
        api = f"http://127.0.0.1:{port}/api/contents"
        assert _status(api) == 403, "the API answered without a token"
        assert _status(f"{api}?token=wrong{token}") == 403
        assert _status(f"{api}?token={token}") == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
