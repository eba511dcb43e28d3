"""Reliability: the pipeline under broker loss, measured (`kafkalab bench reliability`).

The experiment starts its OWN private 3-node cluster (ports from RELIABILITY_BASE_PORT,
folder .run/reliability-cluster; it never touches a cluster a user runs), runs the whole
pipeline - the two generators, the processor and the two sinks, each its own process
started by the pipeline launcher (kafkalab.pipeline.launcher) - at a high trade rate, and
breaks brokers while it runs:

    kill-one      kill -9 one broker, restart it after a while
    two-down      stop a second broker while the first is still down: one broker left,
                  below min.insync.replicas=2 (and below the KRaft quorum) until the trade
                  generator has reported NOT_ENOUGH_REPLICAS; then bring one back, then the other
    partition-one     broker 2 cut off from its peers and the clients for 30 s (and in any case
                  until the cluster has fenced it: out of every ISR), then healed
    partition-leader  the same for the broker leading most `trades` partitions
    loss-5pct         5 % of broker 2's packets dropped at random for 30 s
                  (network faults: nftables on the loopback device, kafkalab.runtime.netfaults;
                  skipped with the reason where root, nft or cgroup2 is missing)
    latency-100ms     broker 2 restarted behind a Toxiproxy proxy (clients and peers reach it through
                  it), then 100 ms ± 20 ms added each way for 30 s (kafkalab.runtime.toxiproxy,
                  kafkalab.transports.kafka.proxied; skipped with the reason where toxiproxy-server
                  is missing)

`kafkalab bench reliability --scenario kill-one,loss-5pct` runs only the named scenarios (in that
order; an unknown name is refused with the list of valid ones); without it, every one.

Each scenario is one pipeline run on fresh topics and groups. A fault begins once every trades
partition is acknowledged and a first candle is stored (records go all the way through). After the generators end,
the run drains (every consumer group at lag 0), stops the consumers cleanly (stop file)
and compares what the trade generator saw acknowledged (its acked-records file) with
what the trades sink stored.

results/bench/reliability.csv, one row per scenario (plus bench.common's run id, time,
machine and versions):

    scenario            kill-one | two-down | partition-one | partition-leader | loss-5pct | latency-100ms
    trade_rate_hz       target trade rate of the generator (records/s)
    run_s               how long the generators ran (s)
    produced            records the trade generator handed to its producer
    acked               records acknowledged by Kafka (delivery report without error)
    failed              records whose delivery report was an error (not acknowledged)
    stored              rows in trades.csv
    duplicated          rows in trades.csv beyond the first for a (symbol, trade_id)
    lost                acknowledged records missing from trades.csv (must be 0)
    unacked_stored      rows in trades.csv the generator never saw acknowledged
    candles             candle rows; candle_mismatches: windows whose candle differs from the
                        one recomputed from trades.csv (must be 0)
    ack_gap_max_s       longest pause in acknowledgements during the run (s)
    ack_resume_s        after the broker restart that restores min ISR: seconds until
                        acknowledgements flow again (two-down), or ack gap around the kill (kill-one)
    isr_full_s          after the last broker restart: seconds until every partition of the
                        run's topics has its full ISR again
    not_enough_replicas_reports  lines in the trade generator's log naming NOT_ENOUGH_REPLICAS
    generator_errors    distinct one-line errors the trade generator printed (first few, ';'-joined)
    packets_dropped     network scenarios: packets the fault's nftables rules dropped
    ack_latency_before_ms, ack_latency_during_ms  latency scenarios: median produce-to-ack latency
                        of the trades partitions the slowed broker leads, before / during the fault
                        (the trade generator's acked_ts_us - produced_ts_us)
    ack_latency_others_ms  the same for the other trades partitions during the fault
    slowed_partitions   latency scenarios: how many trades partitions the slowed broker led

results/bench/reliability_timeline.csv, one row per second of each scenario: scenario, t_s
(since the generators started), acks (acknowledgements in that second), partitions_silent
(trades partitions without one) and event (what the scenario did in that second).

Modules: pipeline_run (the five components of one run, under the scenario's control),
scenarios (one scenario on a given cluster, `run_scenario`) and experiment (the private
cluster, every scenario, the table: `run`).
"""

from kafkalab.bench.reliability.experiment import run

__all__ = ["run"]
