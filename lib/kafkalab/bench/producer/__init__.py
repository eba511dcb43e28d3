"""Producer limits: kafka-python and confluent-kafka against Kafka's Java ProducerPerformance.

Every cell of the grid record size (100 B, 1 KiB, 10 KiB) x acks (1, all) x batching
(off: linger.ms=0, batch.size=16384; on: linger.ms=20, batch.size=1000000) x compression
(none, lz4, zstd) gets a fresh topic (3 partitions, RF 3, min ISR 2). On it, one after the
other in the same run, confluent-kafka, kafka-python and Java's ProducerPerformance (the
reference) send the same random upper-case payload with the same settings, without keys,
as fast as they can. Idempotence is on with acks=all and off with acks=1 for all three
(Java's own rule), and confluent-kafka buffers at most 32 MiB like Java's buffer.memory. Interleaving the clients cell by cell keeps the ratios meaningful while
other work loads the 2 cores.

An extra "defaults" cell at 100 B runs each client with no settings at all, each Python
client right after that once more TUNED (acks=all, batching on, lz4), and kafka-python once
more without its C CRC-32C extension (as `pip install kafka-python` gives it): tuned vs
defaults, measured seconds apart, is what tuning buys.

Bounded in time, not in records, so the grid fits in minutes on 2 cores: each Python client
warms up for WARMUP_SECONDS (not measured: connections, metadata, producer id), then sends
for SECONDS; throughput is acknowledged records over the time from the first measured send
to the end of flush. Java's ProducerPerformance only takes a record count: it gets the
expected rate x SECONDS records (at least JAVA_MIN_RECORDS; the rate guessed by JavaPacer)
plus a fifth of that as `--warmup-records` (JIT, connections), and we parse its "steady
state" line.
The grid's cells are short, so their Java figures carry JIT warm-up and record budgets (Java at 1 KiB
and 10 KiB came out three times slower than librdkafka in them). The reference runs after the grid
are the ratios to trust: per size, acks=all with batching on and no compression, confluent-kafka
and then Java each send for REFERENCE_SECONDS after a warm-up of a fifth of that (Java: a fifth
of its records as --warmup-records), Java given confluent-kafka's measured rate x
REFERENCE_SECONDS records; their cell is "<cell>-reference", their variant "reference".
Latency is per record from send to acknowledgement (confluent: msg.latency(); kafka-python:
ack time minus the record's create timestamp, 1 ms resolution; Java: the tool's own figures).

Columns of results/bench/producer.csv (plus run_id, run_at and the machine/version columns
of bench.common.append_rows):
    cell            id of the grid cell ("100B-acks_all-batch_on-none", or "100B-defaults")
    client          java | confluent-kafka | kafka-python
    variant         grid | defaults | tuned (in the defaults cell: acks=all, batching on, lz4) |
                    defaults-pure-crc (kafka-python without the crc32c package) | reference (the long runs)
    record_bytes    value size in bytes
    acks            1 | all (for "defaults": the client's default)
    batching        off | on | default
    linger_ms, batch_bytes   the batching settings given ("" = client default)
    compression     none | lz4 | zstd | default
    idempotence     True | False | default
    records         measured records acknowledged (warm-up excluded)
    errors          records that failed (delivery error)
    seconds         first send to end of flush
    records_per_s, mb_per_s   throughput (MiB/s of values, as Kafka's tools count)
    latency_p50_ms, latency_p95_ms, latency_p99_ms   send -> acknowledgement
    ratio_to_java   records_per_s / the Java row's records_per_s of the same cell (java: 1.0)
    note            why a row has no figures (e.g. Java stopped after JAVA_TIMEOUT_S)
    machine_cpu_percent, load_avg_1m   how busy the machine was during the measurement
    quick           True for a --quick run (tiny samples)

Modules: cells (the grid, each client's spelling of a cell's settings, the budgets),
clients (one measured run of each client) and experiment (a cell's runs, the whole grid: `run`).
"""

from kafkalab.bench.producer.experiment import run

__all__ = ["run"]
