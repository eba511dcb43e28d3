"""The introduction (kafka-python) and the cluster explorer notebooks under papermill, on the test cluster.

The introduction stops and starts a broker of the session's cluster (through the lab's cluster
manager, found by the same environment variables as the CLI) and waits, with bounds, for leaders
and ISR to move and to come back; on an external cluster it skips that part.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from confluent_kafka import TopicPartition

from kafkalab.core import serde
from kafkalab.core.market import MarketSimulator
from kafkalab.core.models import now_us
from kafkalab.transports.kafka import clients
from kafkalab.transports.kafka.topics import TOPICS

ROOT = Path(__file__).resolve().parents[2]
BROKER = 2
pytestmark = pytest.mark.timeout(900)


def run_notebook(notebook: str, out: Path, **params) -> subprocess.CompletedProcess:
    # Its own call, not test_generator_notebooks.papermill: stopping and starting a broker on a
    # loaded machine can take minutes, beyond that helper's bound.
    args = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / notebook), str(out), "--log-output"]
    for name, value in params.items():
        args += ["-p", name, str(value)]
    return subprocess.run(args, capture_output=True, text=True, timeout=800, cwd=ROOT)


def outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)


@pytest.mark.slow
def test_intro_notebook_walks_through_topics_groups_and_a_stopped_broker(kafka_cluster, bootstrap, unique_name,
                                                                         tmp_path, monkeypatch):
    topic, group = unique_name("intro"), unique_name("g")
    manager = kafka_cluster.manager
    if manager is not None:  # the notebook finds the session's cluster the way the CLI would
        monkeypatch.setenv("KAFKALAB_BASE_PORT", str(manager.config.base_port))
        monkeypatch.setenv("KAFKALAB_CLUSTER_DIR", str(manager.config.run_dir))
    try:
        run = run_notebook("00_kafka_intro.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap, topic=topic,
                           group=group, broker_to_stop=BROKER if manager is not None else 0)
        assert run.returncode == 0, run.stderr[-3000:]
    finally:
        if manager is not None and manager.node_pid(BROKER) is None:  # a failed run must not leave it down
            manager.start_broker(BROKER)
        clients.delete_topics(bootstrap, [topic, f"{topic}-rf1"])
    text = outputs(tmp_path / "out.ipynb")
    assert "written with a broker down" in text and "3600000" in text
    if manager is not None:
        assert "-1" in text  # the unreplicated partition had no leader while its broker was down
        clients.wait_for_full_isr(bootstrap, [spec.name for spec in TOPICS], timeout_s=180)  # for the next tests


def test_explorer_notebook_shows_groups_lag_and_decoded_records(bootstrap, new_topic, group_id, tmp_path):
    topic = new_topic(2)
    sim = MarketSimulator(seed=3)
    trades = [sim.next_trade(now_us()) for _ in range(12)]
    with clients.producer(bootstrap) as producer:
        for i, trade in enumerate(trades):
            value, headers = serde.encode(trade, ("json", "msgpack", "avro")[i % 3])
            producer.produce(topic, key=trade.symbol.encode(), value=value, headers=headers, partition=0)
        producer.produce(topic, value=b"\x00not ours", headers=[("content-type", b"application/avro")], partition=0)
    with clients.consumer(bootstrap, group_id) as consumer:  # the group commits 5 of 13: lag 8
        consumer.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    run = run_notebook("01_cluster_explorer.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                       browse_topic=topic, browse_partition=0, browse_count=20)
    assert run.returncode == 0, run.stderr[-3000:]
    text = outputs(tmp_path / "out.ipynb")
    group_line = next(line for line in text.splitlines() if group_id in line and topic in line)
    assert group_line.split()[-3:] == ["5", "13", "8"], group_line  # committed, end offset, lag
    for fmt in ("application/json", "application/msgpack", "application/avro"):
        assert fmt in text
    assert f"symbol={trades[-1].symbol}" in text and "not decodable" in text
    assert "== Brokers ==" in text and "127.0.0.1:" in text
