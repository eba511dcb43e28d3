"""Kafka's own Java perf tools, run from the cached jars: the reference for the Python clients.

`org.apache.kafka.tools.ProducerPerformance` and `ConsumerPerformance` are what
`kafka-producer-perf-test.sh` / `kafka-consumer-perf-test.sh` run. We call them with the
same classpath the brokers use (kafka_dist.dist_for(cluster).classpath) and parse their
summary lines, so the Java figures come from the tools themselves, not from our code.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Mapping

from kafkalab.config import ClusterConfig
from kafkalab.errors import LabError
from kafkalab.transports.kafka.dist import dist_for, require_java

# A small heap is plenty for a client and leaves memory to the brokers.
JVM_OPTIONS = ("-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")
PRODUCER_CLASS = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER_CLASS = "org.apache.kafka.tools.ConsumerPerformance"

# "300000 records sent, 51247.010591 records/sec (4.89 MB/sec), 362.97 ms avg latency,
#  2287.00 ms max latency, 162 ms 50th, 1368 ms 95th, 1478 ms 99th, 1564 ms 99.9th."
# With --warmup-records a second line follows: "250000 steady state records sent, ...".
_PRODUCER_SUMMARY = re.compile(
    r"(?P<records>\d+) (?P<steady>steady state )?records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>[\d.]+) ms 50th, "
    r"(?P<p95>[\d.]+) ms 95th, (?P<p99>[\d.]+) ms 99th"
)


class JavaToolError(LabError):
    """A Java perf tool failed or printed no summary."""


@dataclass(frozen=True)
class ProducerPerfResult:
    records: int
    records_per_s: float
    mb_per_s: float
    latency_avg_ms: float
    latency_max_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float


@dataclass(frozen=True)
class ConsumerPerfResult:
    records: int
    mb: float
    seconds: float  # whole run, group join included
    rebalance_ms: float
    fetch_ms: float
    fetch_records_per_s: float  # join excluded: the figure we compare with
    fetch_mb_per_s: float


def _java_command(cluster: ClusterConfig, main_class: str, args: list[str]) -> list[str]:
    return [require_java(), *JVM_OPTIONS, "-cp", dist_for(cluster).classpath, main_class, *args]


def _run(command: list[str], timeout_s: float) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise JavaToolError(f"{command[command.index('-cp') + 2]} did not finish within {timeout_s:g} s; "
                            f"is the cluster overloaded or down?") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise JavaToolError(f"{command[command.index('-cp') + 2]} exited with {done.returncode}: {tail}")
    return done.stdout


def _properties(props: Mapping[str, object]) -> list[str]:
    return [f"{k}={v}" for k, v in props.items()]


def parse_producer_summary(stdout: str) -> ProducerPerfResult:
    """The last summary line: the steady-state one when there was a warm-up.

    (The tool also prints interim lines without percentiles; the regex skips them.)
    """
    matches = list(_PRODUCER_SUMMARY.finditer(stdout))
    if not matches:
        raise JavaToolError(f"ProducerPerformance printed no summary line; output ended with: {stdout[-200:]!r}")
    m = matches[-1]
    return ProducerPerfResult(
        records=int(m["records"]), records_per_s=float(m["rps"]), mb_per_s=float(m["mbps"]),
        latency_avg_ms=float(m["avg"]), latency_max_ms=float(m["max"]), latency_p50_ms=float(m["p50"]),
        latency_p95_ms=float(m["p95"]), latency_p99_ms=float(m["p99"]),
    )


def producer_perf(cluster: ClusterConfig, bootstrap_servers: str, topic: str, num_records: int,
                  record_size: int, props: Mapping[str, object], warmup_records: int = 0,
                  timeout_s: float = 300.0) -> ProducerPerfResult:
    """Send `num_records` as fast as possible; with a warm-up, figures for the records after it."""
    args = ["--bootstrap-server", bootstrap_servers, "--topic", topic, "--num-records", str(num_records),
            "--record-size", str(record_size), "--throughput", "-1"]
    if warmup_records:
        args += ["--warmup-records", str(warmup_records)]
    if props:
        args += ["--command-property", *_properties(props)]
    return parse_producer_summary(_run(_java_command(cluster, PRODUCER_CLASS, args), timeout_s))


def parse_consumer_summary(stdout: str) -> ConsumerPerfResult:
    """The data line after the CSV-like header (start.time, end.time, data.consumed.in.MB, ...)."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("start.time") and i + 1 < len(lines):
            header = [h.strip() for h in line.split(",")]
            values = [v.strip() for v in lines[i + 1].split(",")]
            row = dict(zip(header, values))
            try:
                return ConsumerPerfResult(
                    records=int(row["data.consumed.in.nMsg"]), mb=float(row["data.consumed.in.MB"]),
                    seconds=float(row["data.consumed.in.MB"]) / float(row["MB.sec"]) if float(row["MB.sec"]) else 0.0,
                    rebalance_ms=float(row["rebalance.time.ms"]), fetch_ms=float(row["fetch.time.ms"]),
                    fetch_records_per_s=float(row["fetch.nMsg.sec"]), fetch_mb_per_s=float(row["fetch.MB.sec"]),
                )
            except (KeyError, ValueError, ZeroDivisionError):
                break
    raise JavaToolError(f"ConsumerPerformance printed no summary line; output ended with: {stdout[-200:]!r}")


def consumer_perf(cluster: ClusterConfig, bootstrap_servers: str, topic: str, num_records: int, group_id: str,
                  props: Mapping[str, object] | None = None, timeout_s: float = 300.0) -> ConsumerPerfResult:
    args = ["--bootstrap-server", bootstrap_servers, "--topic", topic, "--num-records", str(num_records),
            "--group", group_id, "--timeout", "20000"]
    if props:
        args += ["--command-property", *_properties(props)]
    return parse_consumer_summary(_run(_java_command(cluster, CONSUMER_CLASS, args), timeout_s))
