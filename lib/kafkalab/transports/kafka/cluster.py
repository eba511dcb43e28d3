"""A real Apache Kafka cluster of KRaft nodes as local JVM processes on 127.0.0.1.

Each node is a combined broker+controller with its own folder under the run folder:
`node-N/server.properties`, `node-N/data`, `node-N/logs/server.log`, `node-N/pid`.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from kafkalab.transports.kafka.clients import KafkaUnavailable, describe_cluster, ensure_topics, wait_for_preferred_leaders
from kafkalab.config import ClusterConfig
from kafkalab.errors import ClusterError
from kafkalab.runtime.processes import LocalNodes, port_is_free
from kafkalab.transports.kafka.dist import KafkaDist, ensure_fetched, require_java
from kafkalab.transports.kafka.topics import TOPICS

STOP_TIMEOUT_S = 60.0
# Stopping the whole cluster, the node left last has no KRaft quorum to grant its controlled
# shutdown and waits for one until killed (seen: the full 60 s). A kill loses nothing it wrote
# (that is in the page cache); it only recovers its log segments at the next start.
LAST_NODE_GRACE_S = 10.0
ELECTION_ATTEMPTS = 3
INTERNAL_TOPIC_PARTITIONS = 6  # __consumer_offsets and __transaction_state (defaults 50 each)
# KAFKALAB_BROKER_GC, for experiments. G1 (Kafka's own choice) stops a broker for 10-27 ms
# per young collection here, every few seconds; ZGC collects concurrently with sub-ms
# pauses. Measured side by side at 10 trades/s, the pipeline's latency was the same
# (p50 3.0-3.2 vs 3.2-3.5 ms, p99 13.0-13.5 vs 12.9-13.6 ms), so G1 stays the default.
GC_OPTIONS = {
    "g1": ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"],
    "zgc": ["-XX:+UseZGC"],
}


@dataclass(frozen=True)
class NodeState:
    node_id: int
    port: int
    pid: int | None

    @property
    def running(self) -> bool:
        return self.pid is not None


class LocalCluster(LocalNodes):
    error = ClusterError
    kind = "Kafka"
    down_command = "kafkalab cluster down"
    config: ClusterConfig

    # ---- folders -------------------------------------------------------------------
    def log_path(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "logs" / "server.log"

    def _properties(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "server.properties"

    @property
    def bootstrap_servers(self) -> str:
        return self.config.bootstrap_servers

    # ---- state ---------------------------------------------------------------------
    def _is_node(self, proc: psutil.Process, node_id: int) -> bool:
        """A JVM started with this node's server.properties."""
        return str(self._properties(node_id)) in " ".join(proc.cmdline())

    def nodes(self) -> list[NodeState]:
        return [NodeState(n, self.config.broker_port(n), self.node_pid(n)) for n in self.config.node_ids]

    def active_controller(self) -> int | None:
        """The KRaft quorum's leader as the running nodes last recorded it (the newest epoch in
        `data/__cluster_metadata-0/quorum-state`). Clients cannot ask for it: in KRaft mode the
        metadata's "controller" is a random live broker."""
        newest: tuple[int, int] | None = None
        for node in self.nodes():
            if not node.running:
                continue
            try:
                state = json.loads((self.node_dir(node.node_id) / "data" / "__cluster_metadata-0"
                                    / "quorum-state").read_text())
                epoch, leader = int(state["leaderEpoch"]), int(state["leaderId"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if leader >= 0 and (newest is None or epoch > newest[0]):
                newest = (epoch, leader)
        return newest[1] if newest else None

    # ---- lifecycle -----------------------------------------------------------------
    def up(self, create_topics: bool = True) -> None:
        """Start every node that is not running and return once the cluster is ready."""
        java = require_java()
        dist = ensure_fetched(self.config, echo=self.echo)
        cluster_id = self._cluster_id()
        to_start = [n for n in self.config.node_ids if self.node_pid(n) is None]
        # Every port first: a port taken by node 3 must not leave nodes 1 and 2 running.
        for node_id in to_start:
            for port in (self.config.broker_port(node_id), self.config.controller_port(node_id)):
                _require_free_port(port)
        started = []
        for node_id in self.config.node_ids:
            if node_id in to_start:
                self._start_node(node_id, java, dist, cluster_id)
                started.append(node_id)
        self.wait_ready(self.config.start_timeout_s)
        if started:
            self._elect_preferred_leaders(java, dist)
        if create_topics:
            ensure_topics(self.bootstrap_servers, TOPICS)
        verb = f"started node(s) {started}" if started else "already running"
        self.echo(f"Kafka {self.config.kafka_version} cluster {verb}; bootstrap {self.bootstrap_servers}")

    def start_broker(self, node_id: int, wait: bool = True) -> None:
        self._check_node_id(node_id)
        if self.node_pid(node_id) is not None:
            self.echo(f"node {node_id} is already running")
            return
        self._start_node(node_id, require_java(), ensure_fetched(self.config, echo=self.echo), self._cluster_id())
        if wait:
            self.wait_ready(self.config.start_timeout_s)

    def elect_preferred_leaders(self) -> None:
        """Leadership back on the preferred replicas (after a node restarted under a running cluster)."""
        self._elect_preferred_leaders(require_java(), ensure_fetched(self.config, echo=self.echo))

    def stop_broker(self, node_id: int, kill: bool = False, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop one node: SIGTERM (controlled shutdown) by default, SIGKILL with kill=True."""
        self._stop_one(node_id, kill, timeout_s)

    def down(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every node this run folder started, and any stray JVM pointing at it."""
        pids = self.running_pids()
        pids += [p for p in self._stray_jvms() if p not in pids]
        self._stop_all(pids, timeout_s, last_one_grace_s=LAST_NODE_GRACE_S)

    def wait_ready(self, timeout_s: float) -> None:
        """Until metadata shows every running node as a broker and a controller is known."""
        expected = {n.node_id for n in self.nodes() if n.running}
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            self._fail_if_a_node_died(expected)
            try:
                view = describe_cluster(self.bootstrap_servers, timeout_s=3.0)
                if expected <= set(view.broker_ids) and view.controller_id is not None:
                    return
                last_error = f"brokers {list(view.broker_ids)} of {sorted(expected)} registered"
            except KafkaUnavailable as exc:
                last_error = str(exc)
            time.sleep(0.5)
        raise ClusterError(
            f"Kafka cluster not ready after {timeout_s:g} s ({last_error}); see {self.config.run_dir}/node-*/logs/"
        )

    # ---- internals -----------------------------------------------------------------
    def _cluster_id(self) -> str:
        path = self.config.run_dir / "cluster.id"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(new_cluster_id() + "\n")
        return path.read_text().strip()

    def _server_properties(self, node_id: int) -> str:
        c = self.config
        voters = ",".join(f"{n}@127.0.0.1:{c.controller_port(n)}" for n in c.node_ids)
        rf = min(3, c.node_count)
        settings = {
            "process.roles": "broker,controller",
            "node.id": node_id,
            "controller.quorum.voters": voters,
            # 127.0.0.1 only: the lab is not exposed to the network.
            "listeners": f"PLAINTEXT://127.0.0.1:{c.broker_port(node_id)},CONTROLLER://127.0.0.1:{c.controller_port(node_id)}",
            # advertised_port: a proxy's when the node sits behind one (the added-latency fault);
            # peers use it too, inter-broker traffic shares the PLAINTEXT listener.
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{c.advertised_port(node_id)}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.node_dir(node_id) / "data",
            "num.partitions": 3,
            "default.replication.factor": rf,
            "min.insync.replicas": min(2, rf),
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min(2, rf),
            # A typo in a topic name must fail, not create a new topic.
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": 0,
            # Two cores: fewer threads than the defaults' 3 network / 8 io.
            "num.network.threads": 2,
            "num.io.threads": 4,
            # Every fetch (followers' included) walks all partitions its leader leads; fetch
            # handling was most of what a broker allocated at 10 trades/s (JFR). A lab has a
            # handful of groups and transactional ids: 6 + 6 internal partitions, not 50 + 50.
            "offsets.topic.num.partitions": INTERNAL_TOPIC_PARTITIONS,
            "transaction.state.log.num.partitions": INTERNAL_TOPIC_PARTITIONS,
            # The log cleaner's on-heap buffer (default 128 MiB, a quarter of our heap) for a
            # few small compacted topics. With both: 60-80 MiB live heap after a young GC
            # instead of 180-225 MiB.
            "log.cleaner.dedupe.buffer.size": 16 * 1024 * 1024,
        }
        return "".join(f"{k}={v}\n" for k, v in settings.items())

    def _start_node(self, node_id: int, java: str, dist: KafkaDist, cluster_id: str) -> None:
        for port in (self.config.broker_port(node_id), self.config.controller_port(node_id)):
            _require_free_port(port)
        node_dir = self.node_dir(node_id)
        (node_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._properties(node_id).write_text(self._server_properties(node_id))
        jvm = [java, *self._jvm_options(dist, node_id), "-cp", dist.classpath]
        if not (node_dir / "data" / "meta.properties").exists():
            self._format(node_id, jvm, cluster_id)
        stdout = (node_dir / "logs" / "stdout.log").open("ab")
        process = subprocess.Popen(
            [*jvm, "kafka.Kafka", str(self._properties(node_id))],
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI; `down` stops it
        )
        stdout.close()
        self._pid_file(node_id).write_text(f"{process.pid}\n")

    def _jvm_options(self, dist: KafkaDist, node_id: int) -> list[str]:
        heap = f"{self.config.heap_mb}m"
        return [
            f"-Xms{heap}", f"-Xmx{heap}", *GC_OPTIONS[self.config.broker_gc],
            # Every collection (and with G1 every pause) with its time: node-N/logs/gc.log.
            f"-Xlog:gc:file={self.node_dir(node_id) / 'logs' / 'gc.log'}:time,uptime:filecount=3,filesize=10M",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={dist.log4j_config}",
            f"-Dkafka.logs.dir={self.node_dir(node_id) / 'logs'}",
        ]

    def _elect_preferred_leaders(self, java: str, dist: KafkaDist) -> None:
        """Leadership back on the preferred replicas once nodes (re)started.

        The first node up leads every partition until Kafka's own check moves leaders back
        (leader.imbalance.check.interval.seconds, 300 s), and one broker doing all the
        leaders' work is the slowest cluster there is. Done here, before anything runs: a
        shorter check interval (10 s) moved group and transaction coordinators under a running
        processor, and librdkafka 2.16's send_offsets_to_transaction then hung past its timeout.
        Kafka's own tool, not AdminClient.elect_leaders (confluent-kafka 2.16.1 raises
        SystemError for its timeout keywords).
        """
        logs = self.config.run_dir / "leader-election"  # the tool's own log4j output (server.log)
        command = [java, "-Xmx128m", f"-Dlog4j2.configurationFile={dist.log4j_config}", f"-Dkafka.logs.dir={logs}",
                   "-cp", dist.classpath,
                   "org.apache.kafka.tools.LeaderElectionCommand", "--bootstrap-server", self.bootstrap_servers,
                   "--election-type", "preferred", "--all-topic-partitions"]
        for _ in range(ELECTION_ATTEMPTS):  # a replica still catching up cannot lead yet: try again
            subprocess.run(command, capture_output=True, timeout=120, check=False)
            if wait_for_preferred_leaders(self.bootstrap_servers, timeout_s=5.0):
                return
        self.echo("note: some partitions are not led by their preferred replica yet; "
                  "Kafka moves them back within 5 minutes (see `kafkalab cluster status`)")

    def _format(self, node_id: int, jvm: list[str], cluster_id: str) -> None:
        log = self.node_dir(node_id) / "logs" / "format.log"
        with log.open("w") as out:
            done = subprocess.run(
                [*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", f"--config={self._properties(node_id)}"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        if done.returncode != 0:
            raise ClusterError(f"formatting node {node_id}'s storage failed; see {log}")

    def _fail_if_a_node_died(self, expected: set[int]) -> None:
        for node_id in sorted(expected):
            if self.node_pid(node_id) is None:
                raise ClusterError(f"Kafka node {node_id} exited during start-up; see {self.log_path(node_id)}")

    def _stray_jvms(self) -> list[int]:
        marker = str(self.config.run_dir)
        strays = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if "kafka.Kafka" in cmdline and marker in cmdline:
                strays.append(proc.info["pid"])
        return strays



def new_cluster_id() -> str:
    """A random cluster id as Kafka's own Uuid.randomUuid makes it: base64url, never starting with '-'.

    An id such as "-DncXIHyS6Kki6Mi3ELoew" would be read as an option by a command line that takes
    the value as a separate argument; `_format` also passes it as `--cluster-id=...` so no value can be.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _require_free_port(port: int) -> None:
    if not port_is_free(port):
        raise ClusterError(f"port {port} on 127.0.0.1 is already in use (another Kafka or program?); "
                           f"stop it, or move the cluster with KAFKALAB_BASE_PORT")
