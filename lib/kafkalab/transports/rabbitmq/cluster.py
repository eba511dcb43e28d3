"""A real three-node RabbitMQ cluster as local processes on 127.0.0.1.

Debian's rabbitmq-server package provides the broker; we call its scripts in
/usr/lib/rabbitmq/bin directly, not the /usr/sbin wrappers: those switch to the `rabbitmq`
user when run as root (and refuse anyone else), so the node's folders would have to belong
to that user. Called directly, a node runs as whoever starts it, with no systemd and no
root needed, everything under the run folder:

    run_dir/.erlang.cookie         the cluster's own cookie (HOME points here)
    run_dir/credentials            "kafkalab:<generated password>", mode 600 (never guest)
    run_dir/node-N/rabbitmq.conf, enabled_plugins, data/, log/<node>.log, console.log, pid

The nodes find each other through classic-config peer discovery (the three node names are
in every rabbitmq.conf), so they start in parallel and form the cluster without
`join_cluster`. The cluster has its own epmd on its own port (ERL_EPMD_PORT, bound to
127.0.0.1), stopped by `down`, so the user's or the test session's clusters never meet.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

from kafkalab.runtime.processes import LocalNodes, port_is_free
from kafkalab.transports.rabbitmq.errors import RabbitError
from kafkalab.transports.rabbitmq.management import Management
from kafkalab.transports.rabbitmq.settings import LAB_USER, RabbitConfig

SCRIPTS_DIR = Path("/usr/lib/rabbitmq/bin")
PLUGINS = ("rabbitmq_management", "rabbitmq_consistent_hash_exchange")
STOP_TIMEOUT_S = 60.0
# Erlang schedulers spin when idle by default; on a shared two-core machine they must sleep.
ERL_ARGS = "+sbwt none +sbwtdcpu none +sbwtdio none -kernel inet_dist_use_interface {127,0,0,1}"
INSTALL_HINT = "install Debian's rabbitmq-server (apt-get install -y rabbitmq-server)"


@dataclass(frozen=True)
class NodeState:
    node_id: int
    name: str
    port: int
    pid: int | None

    @property
    def running(self) -> bool:
        return self.pid is not None


class LocalRabbitCluster(LocalNodes):
    error = RabbitError
    kind = "RabbitMQ"
    down_command = "kafkalab rabbitmq down"
    config: RabbitConfig

    # ---- folders and secrets -------------------------------------------------------
    def log_path(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "log" / f"{self.config.node_name(node_id)}.log"

    def credentials(self) -> tuple[str, str]:
        """(user, password) that `up` generated; a one-line error before the first `up`."""
        try:
            user, _, password = self.config.credentials_file.read_text().strip().partition(":")
        except FileNotFoundError:
            raise RabbitError(f"no RabbitMQ credentials in {self.config.credentials_file}; "
                              f"start the cluster with `kafkalab rabbitmq up`") from None
        return user, password

    def urls(self) -> tuple[str, ...]:
        """One amqp:// URL per node, for clients that fail over between them."""
        user, password = self.credentials()
        return tuple(f"amqp://{quote(user)}:{quote(password, safe='')}@127.0.0.1:{self.config.amqp_port(n)}/%2F"
                     for n in self.config.node_ids)

    def management(self, node_id: int = 1) -> Management:
        return Management(self.config.management_port(node_id), *self.credentials())

    def _ensure_secrets(self) -> None:
        run_dir = self.config.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        cookie = run_dir / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(20))
            cookie.chmod(0o400)  # Erlang refuses a cookie others can read
        if not self.config.credentials_file.exists():
            self.config.credentials_file.write_text(f"{LAB_USER}:{secrets.token_urlsafe(18)}\n")
            self.config.credentials_file.chmod(0o600)

    # ---- state ---------------------------------------------------------------------
    def _is_node(self, proc: psutil.Process, node_id: int) -> bool:
        """An Erlang VM whose environment names this node."""
        return proc.environ().get("RABBITMQ_NODENAME") == self.config.node_name(node_id)

    def nodes(self) -> list[NodeState]:
        c = self.config
        return [NodeState(n, c.node_name(n), c.amqp_port(n), self.node_pid(n)) for n in c.node_ids]

    def cluster_members(self) -> set[str]:
        """Names of the nodes that a running node sees running in its cluster."""
        for node in self.nodes():
            if node.running:
                try:
                    return self.management(node.node_id).running_nodes()
                except RabbitError:
                    continue
        return set()

    # ---- lifecycle -----------------------------------------------------------------
    def up(self) -> float:
        """Start every stopped node; return the seconds until all are in the cluster."""
        _require_installed()
        self._ensure_secrets()
        began = time.monotonic()
        to_start = [n.node_id for n in self.nodes() if not n.running]
        for node_id in to_start:  # every port first: a taken port must not leave a partial cluster
            for port in self._ports(node_id):
                _require_free_port(port)
        for node_id in to_start:
            self._start_node(node_id)
        self.wait_ready(self.config.start_timeout_s)
        seconds = time.monotonic() - began
        user, password = self.credentials()
        verb = f"started node(s) {to_start} in {seconds:.0f} s" if to_start else "already running"
        self.echo(f"RabbitMQ cluster {verb}; AMQP 127.0.0.1:{self.config.amqp_port(1)}-{self.config.amqp_port(3)}; "
                  f"management UI http://127.0.0.1:{self.config.management_port(1)}/ user {user} password {password}")
        return seconds

    def start_node(self, node_id: int, wait: bool = True) -> None:
        self._check_node_id(node_id)
        if self.node_pid(node_id) is not None:
            self.echo(f"node {node_id} is already running")
            return
        _require_installed()
        for port in self._ports(node_id):
            _require_free_port(port)
        self._start_node(node_id)
        if wait:
            self.wait_ready(self.config.start_timeout_s)

    def stop_node(self, node_id: int, kill: bool = False, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop one node: SIGTERM (an orderly shutdown) by default, SIGKILL with kill=True."""
        self._stop_one(node_id, kill, timeout_s)

    def down(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every node, then the cluster's own epmd."""
        self._stop_all(self.running_pids(), timeout_s)
        subprocess.run(["epmd", "-kill"], env=self._env(1), capture_output=True, check=False, timeout=30)

    def wait_ready(self, timeout_s: float) -> None:
        """Until every running node is in the cluster and has opened its AMQP and HTTP ports
        (a node counts as running in the cluster before its listeners are up)."""
        running = [n for n in self.nodes() if n.running]
        expected = {n.name for n in running}
        deadline = time.monotonic() + timeout_s
        seen: set[str] = set()
        while time.monotonic() < deadline:
            self._fail_if_a_node_died(expected)
            seen = self.cluster_members()
            listening = all(_answers(port) for n in running for port in self._ports(n.node_id)[::2])
            if expected and expected <= seen and listening:
                return
            time.sleep(1.0)
        raise RabbitError(f"RabbitMQ cluster not formed after {timeout_s:g} s (running together: "
                          f"{sorted(seen) or 'none'} of {sorted(expected)}); see {self.config.run_dir}/node-*/log/")

    # ---- internals -----------------------------------------------------------------
    def _ports(self, node_id: int) -> tuple[int, ...]:
        c = self.config
        return c.amqp_port(node_id), c.dist_port(node_id), c.management_port(node_id)

    def _env(self, node_id: int) -> dict[str, str]:
        c, node_dir = self.config, self.node_dir(node_id)
        return {
            **os.environ,
            "HOME": str(c.run_dir),  # where the server and rabbitmqctl find .erlang.cookie
            "ERL_EPMD_PORT": str(c.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": c.node_name(node_id),
            "RABBITMQ_DIST_PORT": str(c.dist_port(node_id)),
            "RABBITMQ_CONFIG_FILE": str(node_dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(node_dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(node_dir / "data"),
            "RABBITMQ_LOG_BASE": str(node_dir / "log"),
            "RABBITMQ_PID_FILE": str(self._pid_file(node_id)),
            "RABBITMQ_CONF_ENV_FILE": "/dev/null",  # ignore /etc/rabbitmq/rabbitmq-env.conf
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": ERL_ARGS,
        }

    def _rabbitmq_conf(self, node_id: int) -> str:
        c = self.config
        user, password = self.credentials()
        lines = [
            f"listeners.tcp.1 = 127.0.0.1:{c.amqp_port(node_id)}",
            "management.tcp.ip = 127.0.0.1",
            f"management.tcp.port = {c.management_port(node_id)}",
            f"default_user = {user}",
            f"default_pass = {password}",
            "default_user_tags.administrator = true",
            "loopback_users = none",
            "disk_free_limit.absolute = 100MB",
            "cluster_formation.peer_discovery_backend = classic_config",
            *(f"cluster_formation.classic_config.nodes.{n} = {c.node_name(n)}" for n in c.node_ids),
        ]
        return "\n".join(lines) + "\n"

    def _start_node(self, node_id: int) -> None:
        node_dir = self.node_dir(node_id)
        (node_dir / "log").mkdir(parents=True, exist_ok=True)
        conf = node_dir / "rabbitmq.conf"
        conf.touch(mode=0o600)  # it holds the generated password
        conf.write_text(self._rabbitmq_conf(node_id))
        (node_dir / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n")
        self._pid_file(node_id).unlink(missing_ok=True)
        with (node_dir / "console.log").open("ab") as console:
            process = subprocess.Popen(
                [str(SCRIPTS_DIR / "rabbitmq-server")], env=self._env(node_id), cwd=node_dir,
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the CLI; `down` stops it
            )
        # The node writes its VM's pid itself; wait for it so `status` and kill -9 find the VM.
        deadline = time.monotonic() + 60
        while self.node_pid(node_id) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RabbitError(f"RabbitMQ node {node_id} did not start; see {node_dir / 'console.log'}")
            time.sleep(0.2)

    def _fail_if_a_node_died(self, expected: set[str]) -> None:
        for node in self.nodes():
            if node.name in expected and not node.running:
                raise RabbitError(f"RabbitMQ node {node.node_id} exited during start-up; see {self.log_path(node.node_id)}")


def _require_installed() -> None:
    if not (SCRIPTS_DIR / "rabbitmq-server").exists() or shutil.which("epmd") is None:
        raise RabbitError(f"RabbitMQ is not installed here ({SCRIPTS_DIR / 'rabbitmq-server'} missing); {INSTALL_HINT}")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _require_free_port(port: int) -> None:
    if not port_is_free(port):
        raise RabbitError(f"port {port} on 127.0.0.1 is already in use (another RabbitMQ or program?); "
                          f"stop it, or move the cluster with KAFKALAB_RABBITMQ_BASE_PORT")


def client_urls(config: RabbitConfig) -> tuple[str, ...]:
    """KAFKALAB_RABBITMQ_URL when given, else every node of the local cluster."""
    return config.urls or LocalRabbitCluster(config).urls()
