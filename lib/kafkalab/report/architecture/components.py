"""The five components: what each reads, writes and does; the message type of each topic."""

from __future__ import annotations

from dataclasses import dataclass

from kafkalab.core.streams import STREAM_TYPES
from kafkalab.report.architecture.names import BOOK_FEATURES_CSV, CANDLES_CSV, TRADES_CSV, csv_path
from kafkalab.report.markdown import code, md_table
from kafkalab.transports.kafka import topics


@dataclass(frozen=True)
class Component:
    key: str
    name: str
    notebook: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    task: str


COMPONENTS: tuple[Component, ...] = (
    Component("gen_trades", "trade generator", "notebooks/generator_trades.ipynb", (), (topics.TRADES,),
              "Simulates executed trades (the simple message): a random walk with bursts per symbol, "
              "each symbol with its own volatility, reproducible from a seed; rate configurable, "
              "reports the rate it actually reached."),
    Component("gen_books", "order-book generator", "notebooks/generator_orderbook.ipynb", (), (topics.ORDERBOOKS,),
              "Simulates order-book snapshots (the complex, nested message: venue metadata, sequence "
              "numbers, price levels on both sides) around the same symbols' current trade prices."),
    Component("processor", "market processor", "notebooks/processor_market.ipynb",
              (topics.TRADES, topics.ORDERBOOKS), (topics.CANDLES, topics.BOOK_FEATURES),
              "A consumer group member: per symbol, 1-second tumbling event-time windows; emits candles "
              "(OHLC, volume, VWAP, count) and book features (mid, spread, imbalance) back into Kafka and "
              "commits its input offsets only after Kafka acknowledged the results."),
    Component("sink_trades", "trades sink", "notebooks/sink_trades_csv.ipynb", (topics.TRADES,),
              (csv_path(TRADES_CSV),),
              "Archives every raw trade as one CSV row (complete lines only, resumes after the last "
              "offset it wrote, commits after the rows are on disk)."),
    Component("sink_candles", "candles sink", "notebooks/sink_candles_csv.ipynb",
              (topics.CANDLES, topics.BOOK_FEATURES), (csv_path(CANDLES_CSV), csv_path(BOOK_FEATURES_CSV)),
              "Stores the derived data (candles, book features) in their own CSVs for later analysis."),
)

# Consumers park records they cannot decode or validate in the dead-letter topic.
DEAD_LETTER_WRITERS = ("processor", "sink_trades", "sink_candles")


def components_table() -> str:
    rows = [[f"**{c.name}**<br>{code(c.notebook)}", ", ".join(map(code, c.reads)) or "–",
             ", ".join(map(code, c.writes)), c.task] for c in COMPONENTS]
    return md_table(["component (notebook)", "reads", "writes", "task"], rows)


# The Kafka topics are named after the streams, so a topic's message type is its stream's.
MESSAGE_OF_TOPIC = STREAM_TYPES
