"""Reflection: written from this project's own history (its issues, session notes and git log)."""

from __future__ import annotations

from kafkalab.config import LabConfig
from kafkalab.report import results
from kafkalab.report.display import show_heading, show_markdown

HEADING = "Reflection"
PARTS = {
    "What went well": """\
- **A real cluster without Docker.** The three KRaft nodes run as local JVMs from Apache Kafka's own
  jars (fetched once with Maven), so every test and benchmark ran against real brokers on a machine
  without a Docker engine; the compose file is checked statically and kept in step.
- **Correctness checked end to end.** The processor's results, dead letters and input offsets commit
  in one transaction; a fresh-clone `make run` produced 539 of 539 candles equal to the ones
  recomputed from `trades.csv`, and the broker-loss tests lose no acknowledged record.
- **Measuring before tuning.** The 10 Hz latency target was met (p50 2.57 ms, p99 6.47 ms) by finding
  five defects in the lab (all partitions led by one broker after a restart; sinks committing once per
  record; paced generators waiting for batches that never fill; ...), not by tuning until the figure fell.""",
    "Where problems occurred": """\
- **librdkafka inside Python.** After a two-broker outage the processor can hang in
  `send_offsets_to_transaction`, a C call that never returns; nothing is lost and a restart resumes,
  but it is not fixed. An admin group request after a timeout aborted the whole Python process
  (`rd_kafka_enq_once_del_source_return: Assertion 'eonce->refcnt > 0' failed`), which also killed
  `kafkalab run` on a fresh cluster until lag was read through a non-member consumer.
- **Leaders after a restart.** The first node up led 207 of 207 partitions; its fetch handling drove a
  young GC every few seconds and a 10 Hz p99 of 83 ms. A 10 s leader-rebalance interval fixed that but
  moved coordinators under the running processor; electing preferred leaders once at `cluster up` stayed.""",
    "What took longer than planned": """\
- **The latency target.** The first full session ended at a p99 of 37 ms against 15.9 ms; a second
  session of measurement (JFR, py-spy, GC logs, a LogAppendTime topic) was needed to find the causes.
- **Tests on a loaded machine.** Eight people share two cores: a clean-clone CI run takes 12–14 min and
  tests that waited a fixed time failed under load (`test_papermill_stops` timed out after 60 s); every
  wait had to become a bounded wait for a condition.
- **The report.** It grew section by section beside the code; after `make run` half of it was
  "Missing" boxes, and it had to be reorganised by the assignment's parts.""",
    "What we would do differently": """\
- **Layers from the first day.** The flat package grew a 731-line sink and a 998-line figures module
  that mixed domain logic with Kafka I/O; a move into core / runtime / transports / pipeline / report
  had to come before a second transport could be added without copying.
- **The report as the deliverable from the start**, organised by the assignment's parts, with a bounded
  experiment set in `make run`, so every number in it is measured on the reader's machine.
- **Benchmarks on a quiet machine**, or at least ratios measured side by side in one run, from the
  start: absolute figures measured at a load average of 4–27 are lower bounds only.""",
    "What we would change in the assignment": """\
- **Allow a local, Docker-free path.** The template assumes Docker Desktop; a machine without a Docker
  engine (CI, shared servers) can still run a real cluster, and the Docker part could be a checked
  artefact rather than the only way to run.
- **Ask for the measurement conditions**: the machine, its load and the settings with every number, and
  ratios against a reference (Kafka's own perf tools) rather than absolute rates.
- **Merge overlapping questions.** Part 3's "advantages and disadvantages" and "how it scales" overlap;
  one comparison table with measured rows (rate, latency, durability, loss under failure) says more.""",
}


def show(config: LabConfig, res: results.Results) -> None:
    show_heading(1, HEADING)
    show_markdown("Written from this project's own history: its issues, the notes each working session left, "
                  "and the git log. Figures quoted here were measured in those sessions.")
    for heading, text in PARTS.items():
        show_heading(2, heading)
        show_markdown(text)
