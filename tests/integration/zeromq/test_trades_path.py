"""Trade generator -> trades sink over real ZeroMQ sockets: every trade arrives, counted."""

from __future__ import annotations

from kafkalab.runtime.loop import Bounds
from kafkalab.transports.zeromq.generator import ZmqTradeGenerator
from kafkalab.transports.zeromq.sink import trades_sink
from kafkalab.transports.zeromq.stats import STATS_CSV

from helpers import read_rows, wait_for


def test_trades_reach_the_csv_at_rate_with_no_gap_and_no_duplicate(lab, zmq_settings, running):
    sink = running(trades_sink(lab, zmq_settings=zmq_settings))
    generator = running(ZmqTradeGenerator(lab, rate_hz=50, zmq_settings=zmq_settings, subscribers=1), Bounds(max_seconds=3))
    generator.join()
    produced = generator.component.counters["produced"]
    wait_for(lambda: sink.component.counters["written"] >= produced, 30, "the sink to write every trade")
    sink.stop()

    rows = read_rows(lab.data_dir / "trades.csv")
    assert len(rows) == produced >= 10 * 3
    assert {r["transport"] for r in rows} == {"zeromq"}
    sequences = [int(r["position"].rpartition(":")[2]) for r in rows]
    assert sequences == list(range(1, produced + 1))
    span_s = (int(rows[-1]["event_ts_us"]) - int(rows[0]["event_ts_us"])) / 1e6
    assert len(rows) / max(span_s, 1e-6) >= 10
    counters = sink.component.counters
    assert (counters["gaps"], counters["duplicates"], counters["dropped"]) == (0, 0, 0)
    stats = read_rows(lab.data_dir / STATS_CSV)
    assert [(s["component"], s["stream"], s["gaps"], s["received"]) for s in stats] == \
        [("trades-sink", "trades", "0", str(produced))]
