"""Added network latency for one node, with Toxiproxy (this kernel has no `tc netem`).

Toxiproxy (github.com/Shopify/toxiproxy, v2.5.0, one Go binary) is a TCP proxy whose HTTP
API adds "toxics" to a proxy while it runs. A node that sits behind one listens on its own
port and advertises the proxy's (kafkalab.config.ClusterConfig.advertised_ports), so its
clients and its peers reach it through the proxy; a `latency` toxic on both streams
(upstream: towards the node, downstream: its answers) then delays every byte each way by
`latency_ms` ± `jitter_ms`.

`server(...)` starts toxiproxy-server on a private API port and always stops it;
`latency(...)` adds the toxics and always removes them. `unavailable(binary)` says what is
missing, so tests can skip with the reason. The API is spoken with the stdlib (urllib).
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from kafkalab.config import TOXIPROXY_VERSION
from kafkalab.errors import LabError

log = logging.getLogger(__name__)

INSTALL = (f"GOBIN=$PWD/.cache/toxiproxy/{TOXIPROXY_VERSION} go install "
           f"github.com/Shopify/toxiproxy/v2/cmd/server@{TOXIPROXY_VERSION}")
START_TIMEOUT_S = 10.0
STREAMS = ("upstream", "downstream")


class ToxiproxyError(LabError):
    """Toxiproxy is missing, did not start, or refused a request."""


def unavailable(binary: Path | None) -> str | None:
    """Why the added-latency fault cannot be made here, or None when it can."""
    if binary is None or not Path(binary).is_file():
        return f"added latency needs toxiproxy-server (not found at {binary}): {INSTALL}, or set KAFKALAB_TOXIPROXY"
    return None


def latency_toxic(name: str, stream: str, latency_ms: int, jitter_ms: int) -> dict:
    """The API body of one latency toxic (pure: unit-tested)."""
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS} (got {stream!r})")
    if latency_ms <= 0 or not 0 <= jitter_ms <= latency_ms:
        raise ValueError(f"need latency_ms > 0 and 0 <= jitter_ms <= latency_ms (got {latency_ms}, {jitter_ms})")
    return {"name": name, "type": "latency", "stream": stream, "toxicity": 1.0,
            "attributes": {"latency": latency_ms, "jitter": jitter_ms}}


@dataclass(frozen=True)
class Api:
    """A running toxiproxy-server's HTTP API on 127.0.0.1:port."""

    port: int

    def call(self, method: str, path: str, body: dict | None = None, timeout_s: float = 5.0):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as answer:
                text = answer.read().decode()
        except urllib.error.HTTPError as exc:
            raise ToxiproxyError(f"toxiproxy refused {method} {path}: {exc.code} "
                                 f"{exc.read().decode(errors='replace').strip()[:200]}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ToxiproxyError(f"toxiproxy API on port {self.port} did not answer {method} {path}: {exc}") from None
        return json.loads(text) if text.strip().startswith(("{", "[")) else text

    def alive(self) -> bool:
        try:
            self.call("GET", "/version", timeout_s=1.0)
            return True
        except ToxiproxyError:
            return False

    def create_proxy(self, name: str, listen_port: int, upstream_port: int) -> None:
        self.call("POST", "/proxies", {"name": name, "listen": f"127.0.0.1:{listen_port}",
                                       "upstream": f"127.0.0.1:{upstream_port}", "enabled": True})

    def toxics(self, proxy: str) -> list[dict]:
        return self.call("GET", f"/proxies/{proxy}/toxics")


@contextmanager
def server(binary: Path | None, api_port: int, log_path: Path) -> Iterator[Api]:
    """toxiproxy-server on 127.0.0.1:api_port while inside; stopped on exit, whatever happened."""
    reason = unavailable(binary)
    if reason:
        raise ToxiproxyError(reason)
    api = Api(api_port)
    if api.alive():
        raise ToxiproxyError(f"port {api_port} already has a toxiproxy API (a stray one?); stop it first")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        process = subprocess.Popen([str(binary), "-host", "127.0.0.1", "-port", str(api_port)],
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not api.alive():
            if process.poll() is not None or time.monotonic() > deadline:
                raise ToxiproxyError(f"toxiproxy-server did not start on port {api_port}; see {log_path}")
            time.sleep(0.1)
        log.info("toxiproxy-server %s on 127.0.0.1:%d (log %s)", binary, api_port, log_path)
        yield api
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def latency(api: Api, proxy: str, latency_ms: int = 100, jitter_ms: int = 20) -> Iterator[None]:
    """While inside, every byte through `proxy` waits latency_ms ± jitter_ms, each way."""
    added = []
    try:
        for stream in STREAMS:
            toxic = latency_toxic(f"latency_{stream}", stream, latency_ms, jitter_ms)
            api.call("POST", f"/proxies/{proxy}/toxics", toxic)
            added.append(toxic["name"])
        yield
    finally:
        for name in added:  # removed even when the body failed: a proxy left slow would skew what follows
            api.call("DELETE", f"/proxies/{proxy}/toxics/{name}")
