"""The market processor as a Kafka Streams application (`--processor streams`), behind the same
Component hooks as the Python one, so the pipeline runs, drains and stops it the same way.

The JVM (jvm/market-streams, built by streams_app) is a child process: its output goes to
`<results>/runs/<group>-<instance>.streams.log`, its state folder is `<results>/runs/streams-state/`,
its consumer group is the processor's group (application.id), so the runner's lag check and
readiness check work unchanged. Its guarantee: exactly_once_v2 (Streams' transactions commit the
window store's changelog, the outputs and the input offsets together). A clean stop is SIGTERM: the
app lets the idle rule close its open windows first (bounded), then commits and exits. If this
process dies, the kernel sends the JVM SIGTERM (PR_SET_PDEATHSIG), so nothing is left running.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from kafkalab.config import LabConfig
from kafkalab.runtime.loop import Component
from kafkalab.transports.kafka import clients
from kafkalab.transports.kafka.processor import Topics
from kafkalab.transports.kafka.streams_app import StreamsAppError, ensure_built

START_TIMEOUT_S = 120.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class StreamsProcessor(Component):
    name = "market-processor-streams"
    counter_names = ("consumed", "trades", "books", "candles", "book_features", "late", "dead_letters",
                     "open_windows")
    message_counter = "consumed"

    def __init__(self, config: LabConfig, *, group_id: str = "market-processor", instance: str = "0",
                 topics: Topics = Topics(), allowed_lateness_ms: int = 500, idle_timeout_ms: int = 2000,
                 max_event_ahead_s: float = 5.0, status_ms: int = 1000) -> None:
        super().__init__()
        self.config = config
        self.group_id = group_id
        self.instance = str(instance)
        self.topics = topics
        self.idle_timeout_ms = int(idle_timeout_ms)
        self.options = {
            "bootstrap": config.bootstrap_servers, "application-id": group_id,
            "trades": topics.trades, "orderbooks": topics.orderbooks, "candles": topics.candles,
            "book-features": topics.book_features, "dead-letters": topics.dead_letters,
            "state-dir": config.runs_dir / "streams-state" / f"{group_id}-{self.instance}",
            "lateness-ms": int(allowed_lateness_ms), "idle-ms": self.idle_timeout_ms,
            "max-ahead-ms": int(max_event_ahead_s * 1000), "status-ms": int(status_ms),
        }
        self.log_path = config.runs_dir / f"{group_id}-{self.instance}.streams.log"
        self.process: subprocess.Popen | None = None
        self.state = "STARTING"

    def setup(self, stack: ExitStack) -> None:
        for topic in (self.topics.candles, self.topics.book_features):
            if self.config.serializer_for(topic) != "msgpack":
                raise StreamsAppError(f"the Kafka Streams processor writes msgpack only; {topic} is set to "
                                      f"{self.config.serializer_for(topic)} (unset KAFKALAB_SERIALIZER for it)")
        clients.require_reachable(self.config.bootstrap_servers)
        clients.require_topics(self.config.bootstrap_servers, self.topics.all())
        app = ensure_built(self.config, echo=self.log.info)
        Path(self.options["state-dir"]).mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = stack.enter_context(self.log_path.open("a"))
        self.process = subprocess.Popen(app.command(self.options), stdout=subprocess.PIPE, stderr=log_file,
                                        stdin=subprocess.DEVNULL, text=True, preexec_fn=_die_with_parent)
        stack.callback(self._kill)  # an exception path: no clean stop, the next start resumes
        threading.Thread(target=self._read_status, args=(self.process.stdout, log_file), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.state != "RUNNING":
            self._check_alive()
            if time.monotonic() > deadline:
                raise StreamsAppError(f"the Kafka Streams processor did not reach RUNNING in {START_TIMEOUT_S:g} s "
                                      f"(state {self.state}); see {self.log_path}")
            if self.wait(0.1):
                return

    def _read_status(self, stream, log_file) -> None:
        """STATUS lines -> counters and state; anything else -> the log file."""
        for line in stream:
            if not line.startswith("STATUS "):
                log_file.write(line)
                log_file.flush()
                continue
            fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
            if fields.get("state") != self.state:
                log_file.write(line)
                log_file.flush()
            self.state = fields.pop("state", self.state)
            for name, value in fields.items():
                if value.isdigit():
                    self.counters.set(name, int(value))

    def _check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            last = self.log_path.read_text().strip().splitlines()[-1:] or ["no output"]
            raise StreamsAppError(f"the Kafka Streams processor exited with code {code} ({last[0][:200]}); "
                                  f"see {self.log_path}")

    def step(self) -> None:
        self._check_alive()
        self.wait(0.2)

    def finish(self) -> None:
        """SIGTERM: the app closes its idle windows (bounded), commits and exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=self.idle_timeout_ms / 1000 + 45)
        except subprocess.TimeoutExpired:
            self.log.warning(f"the Kafka Streams processor did not stop; killing it (see {self.log_path})")

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
