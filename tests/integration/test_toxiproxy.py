"""Toxiproxy for real: a TCP echo server behind a proxy, with and without the latency toxics.

Skips with the reason when toxiproxy-server is not installed (KAFKALAB_TOXIPROXY, .ci/run builds it).
"""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time

import pytest

from kafkalab import config as lab_config
from kafkalab.runtime import toxiproxy

BINARY = lab_config.load().cluster.toxiproxy
BASE = int(os.environ.get("KAFKALAB_TEST_BASE_PORT", "19092")) + 60  # clear of the test cluster's ports

pytestmark = pytest.mark.skipif(toxiproxy.unavailable(BINARY) is not None, reason=str(toxiproxy.unavailable(BINARY)))


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(4096):
            self.request.sendall(data)


def _round_trips_ms(port: int, count: int = 10) -> list[float]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(b"ping")
            assert sock.recv(16) == b"ping"
            times.append((time.perf_counter() - start) * 1000)
        return times


def test_the_latency_toxics_delay_both_ways_and_are_removed_after(tmp_path):
    echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    try:
        with toxiproxy.server(BINARY, BASE, tmp_path / "toxiproxy.log") as api:
            api.create_proxy("echo", BASE + 1, echo.server_address[1])
            before = _round_trips_ms(BASE + 1)
            with toxiproxy.latency(api, "echo", latency_ms=100, jitter_ms=20):
                assert {t["stream"] for t in api.toxics("echo")} == {"upstream", "downstream"}
                during = _round_trips_ms(BASE + 1)
            assert api.toxics("echo") == []
            after = _round_trips_ms(BASE + 1)
        assert not api.alive(), "the server outlived its context"
    finally:
        echo.shutdown()
    print(f"\nround trip ms: before max {max(before):.1f}, during min {min(during):.1f} "
          f"max {max(during):.1f}, after max {max(after):.1f}")
    # 100 ± 20 ms each way: every round trip 160..240 ms plus scheduling
    assert min(during) >= 150 and sorted(during)[len(during) // 2] < 400
    assert max(before) < 50 and max(after) < 50
