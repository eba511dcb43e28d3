"""Part 2's deep dive on Kafka Streams: the text around the measurement (results/bench/streams.csv).

The prose describes what jvm/market-streams really does (kafkalab.streams.Main and WindowProcessor)
next to the Python processor (kafkalab.core.windowing, kafkalab.transports.kafka.processor); every
number shown with it comes from the table, through kafkalab.report.figures.streams.
"""

from __future__ import annotations

from kafkalab.core.windowing import DEFAULT_ALLOWED_LATENESS_US, DEFAULT_IDLE_TIMEOUT_US
from kafkalab.report import catalog
from kafkalab.transports.kafka.processor import BATCH_SIZE

# The Python processor's defaults, quoted from the code so the text follows them.
LATENESS_MS = DEFAULT_ALLOWED_LATENESS_US // 1000
IDLE_S = f"{DEFAULT_IDLE_TIMEOUT_US / 1e6:g} s"

HEADING = catalog.STREAMS_HEADING

BEFORE = f"""\
*Use case:* a team that outgrows one Python processor would reach for Kafka Streams. The same job runs
in both here: `jvm/market-streams` (Kafka Streams of the brokers' Kafka version, the Processor API, our
msgpack wire format and headers, so the sinks store its output unchanged) reads `trades` and
`orderbooks` and writes `candles` and `book-features`; `kafkalab run --processor streams` runs the
pipeline with it, and the end-to-end test checks every closed window's candle against the one recomputed
from trades.csv, as for the Python processor.

**Windows.** Kafka Streams' own windows (`windowedBy(TimeWindows.ofSizeAndGrace(1 s, grace))`) are
tumbling and aligned to the epoch, like ours. Its clock is *stream time*, the largest record timestamp a
task has seen; a window closes once stream time reaches its end plus the *grace* period, and a record
for a window past that is dropped (counted in the `dropped-records` metric, not forwarded). By default
the DSL emits an updated result with every record; one result per window, as ours, needs
`suppress(untilWindowCloses(...))` or `emitStrategy(onWindowClose())`. Grace is our
allowed lateness under another name: our watermark is the largest event time of the partition minus
{LATENESS_MS} ms, and a window closes when the watermark reaches its end, the same instant. The app still uses the
Processor API with its own window code, for three reasons: the event time is the trade's `event_ts_us`
in the payload, in microseconds, not the record's Kafka timestamp; a late record must go to
`dead-letters` with its reason, as ours do; and the DSL has no idle rule, so with no further input the
last windows of a run would never close. Its windows and rules are those of `kafkalab.core.windowing`,
kept per task (one task per input partition), with the idle rule in a wall-clock punctuator every 100 ms.

**The idle rule differs in one point.** Ours lets time move on after {IDLE_S} without input only while the
consumer is at the end of every partition of that input (it reads the end offsets its fetches already
returned). A Streams processor cannot see end offsets, so the app applies the rule after {IDLE_S} without a
record in any of its partitions of that input, behind or not. An instance whose fetches stall for
longer than that while it is behind (a leader failover, an overloaded machine) moves time on and can
dead-letter as late what ours would still have put in its window; the end-to-end test gives the app a
longer idle timeout for that reason.

**Copies are counted differently too.** An idempotent producer can still write a batch twice around a
leader change (librdkafka#4953): the copy has a new offset and the same content. Our windows skip a second
record with the same symbol and trade id; the app keeps no trade ids in its window store and would count
the copy twice. It only happens when a broker fails, which no Streams run here does; the app needs the ids
in its store (a new stored value, so a new changelog format) before it is trusted through broker faults.

**State stores and changelog topics.** The open windows live in a state store, one per sub-topology
(`trades-windows`, `books-windows`): an in-memory key-value store keyed by symbol and window start,
plus the two facts of the watermark (the largest event time, the watermark windows were closed at).
The store is *cached* (several updates of one window within a commit reach Kafka once) and *logged*:
every change also goes to a compacted changelog topic, `<application.id>-trades-windows-changelog`
(replication factor 3, min ISR 2), and a closed window is deleted, a tombstone, so after compaction the
changelog holds only what is open. When a task restarts or moves to another instance, Streams first
restores its store from the changelog, then goes on reading the input where the committed offsets say.
Our processor has no store: it commits, per partition, the offset of the oldest record still in an open
window, with the watermark in the offset's metadata, and a restart re-reads the input of the open
windows to rebuild them. Streams pays a second write of the window state during the run (each changed
window once per commit, thanks to the cache); we pay a re-read of about one window plus the allowed
lateness of input per partition at a restart.

**Exactly once.** `processing.guarantee=exactly_once_v2`: one transactional producer per stream thread
(here one thread, so one per instance, like ours) puts the outputs, the changelog writes and the input
offsets of all of that thread's tasks into one transaction, committed every `commit.interval.ms` (100 ms
under exactly-once); the offsets are sent with the consumer group's metadata, so an instance that lost
its partitions in a rebalance is fenced by the group generation. Our processor does the same per loop
step (what one poll brought, up to {BATCH_SIZE:,} records): outputs, dead letters and
offsets in one transaction, `transactional.id` and static membership per instance. Readers of the
outputs use `read_committed` in both cases, so an aborted transaction leaves no trace.

**What it costs and what it gives, measured.** One instance of each drains the same pre-filled `trades`
topic (event-time ordered trades, msgpack) on fresh topics, one after the other in one run. CPU
and peak RSS are those of the process that runs the engine: the JVM for Streams (its garbage collector and
JIT compiler included); for Python the benchmark's own process, since the processor runs in it, so its
figures include the benchmark's polling, and its RSS the encoded backlog the benchmark holds in memory. The two commit at different paces: Streams every
`commit.interval.ms` whatever the backlog, ours once per step of up to {BATCH_SIZE:,} records; on a busy
cluster each commit's markers make the next transaction's first writes wait (the app's log then shows
`CONCURRENT_TRANSACTIONS` retries), a wait Streams pays far more often. Raising `commit.interval.ms`
would trade latency for throughput; the app keeps the default. On a small backlog (the quick run's) the
JVM's warm-up, its JIT compiling the hot path, is inside the clock too.

The full run (`kafkalab bench streams`, not the quick one of `make run`) then makes each engine the
processor of the whole pipeline (both generators, both sinks, the same brokers) at a steady low trade
rate, as in the pipeline experiment: the candle latency from its window's end to the moment the processor emitted it (the candle's
`produced_ts_us`) and to the sink's write. Both include the allowed lateness and the wait for the next
trade of the partition that moves the watermark past the window's end; the last windows of the load,
which the idle rule closes once the trades stop, are left out (they would measure the idle timeout).
"""

AFTER = """\
**Use cases.** Kafka Streams for stateful jobs that grow: joins (trades with order books, a stream with a
table of reference data), larger or session windows, aggregations served from the store by interactive
queries, standby replicas of the stores for fast fail-over, when the team runs JVM services anyway. It
costs a JVM per instance, internal topics to size and watch (changelogs, repartition topics when keys
change), and a restore before a moved task can work. A Python consume-transform-produce loop like ours
when the logic lives in Python (numpy, a model), the state is small and can be rebuilt from the retained
input, the idle rule must know whether the consumer is caught up, or one language for the whole pipeline
matters more than throughput per instance.
"""
