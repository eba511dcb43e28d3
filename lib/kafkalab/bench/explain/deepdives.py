"""The deep-dive tables (results/bench/deepdive_*.csv) in words."""

from __future__ import annotations

import pandas as pd

from kafkalab.bench.explain.prose import _n, _text
from kafkalab.report.results import numeric


def explain_deepdive_rebalance(frame: pd.DataFrame) -> str:
    rows = numeric(frame, "stalled_partitions", "max_pause_s", "moved_partitions", "latency_max_ms", "duplicates")
    if rows.empty:
        return ""
    lines = ["**Rebalancing, read from the table** (a partition stalled = no record consumed for longer than the "
             "threshold while records kept arriving)."]
    for strategy, part in rows.groupby("strategy", sort=False):
        lines.append(f"- {strategy}: {int(part['stalled_partitions'].sum())} stalled partitions over "
                     f"{len(part)} membership changes, longest pause {_n(part['max_pause_s'].max())} s, "
                     f"{int(part['moved_partitions'].sum())} partitions changed owner, worst produce→consume "
                     f"latency {_n(part['latency_max_ms'].max())} ms, {int(part['duplicates'].max())} records "
                     f"delivered twice.")
    by = rows.groupby("strategy")["max_pause_s"].max()
    if len(by) > 1:
        lines.append(f"- Shortest worst-case pause: {by.idxmin()} ({_n(by.min())} s); longest: {by.idxmax()} "
                     f"({_n(by.max())} s).")
    return "\n".join(lines)


def explain_deepdive_rebalance_events(frame: pd.DataFrame) -> str:
    rows = numeric(frame, "t_s", "n_partitions")
    if rows.empty:
        return ""
    parts = []
    for strategy, part in rows.groupby("strategy", sort=False):
        callbacks = int(part["event"].isin(["assigned", "revoked", "lost"]).sum())
        waits = []
        for member, mine in part.groupby("consumer"):
            joined = mine[mine["event"] == "join"]["t_s"]
            got = mine[(mine["event"] == "assigned") & (mine["n_partitions"] > 0)]["t_s"]
            if len(joined) and len(got) and joined.iloc[0] > 0.5:  # not the first member
                waits.append(got.iloc[0] - joined.iloc[0])
        wait = f", a joining member got its first partitions after {_n(min(waits))}-{_n(max(waits))} s" if waits else ""
        parts.append(f"{strategy}: {callbacks} assign/revoke callbacks{wait}")
    return "Rebalance callbacks per strategy - " + "; ".join(parts) + "."


def keys_figures(frame: pd.DataFrame) -> dict[tuple[str, str], dict[str, float]]:
    rows = numeric(frame, "partition", "records", "share", "max_partitions_per_symbol")
    out = {}
    for (scenario, partitioner), part in rows.groupby(["scenario", "partitioner"], sort=False):
        n = len(part)
        out[(scenario, partitioner)] = {
            "imbalance": part["share"].max() * n,  # 1.0 = perfectly even
            "empty_partitions": int((part["records"] == 0).sum()),
            "partitions": n,
            "max_partitions_per_symbol": part["max_partitions_per_symbol"].max(),
        }
    return out


def explain_deepdive_keys(frame: pd.DataFrame) -> str:
    f = keys_figures(frame)
    if not f:
        return ""
    lines = ["**Keys and partitions, read from the table** (imbalance = busiest partition's share × partitions; "
             "1.0 is even)."]
    for (scenario, partitioner), e in f.items():
        order = ("each symbol's records in one partition (per-symbol order kept)" if e["max_partitions_per_symbol"] <= 1
                 else f"a symbol's records spread over up to {int(e['max_partitions_per_symbol'])} partitions: "
                      f"no per-symbol order")
        lines.append(f"- {scenario} ({partitioner}): imbalance {_n(e['imbalance'])}, {e['empty_partitions']} of "
                     f"{e['partitions']} partitions empty, {order}.")
    lines.append("A good key has many more distinct values than partitions, similar volume per value, and is what "
                 "ordering is needed for (here: the symbol). Few keys leave partitions (and consumers) idle; one "
                 "hot key makes its partition the bottleneck; no key or a unique id gives up per-symbol order "
                 "(without a key the sticky partitioner fills one partition's batch at a time, so a short burst "
                 "can land unevenly).")
    return "\n".join(lines)


def explain_deepdive_key_map(frame: pd.DataFrame) -> str:
    rows = frame.copy()
    if rows.empty:
        return ""
    matches = _text(rows["matches"]).str.lower().eq("true")
    text = [f"Computed partitions agree with the broker's placement for {int(matches.sum())} of {len(rows)} "
            f"(key, partition count, partitioner) cases."]
    pivot = rows.pivot_table(index=["key", "partitions"], columns="partitioner", values="partition_observed",
                             aggfunc="first")
    if pivot.shape[1] == 2:
        differ = pivot[pivot.iloc[:, 0] != pivot.iloc[:, 1]]
        for partitions, part in differ.groupby(level="partitions"):
            total = len(pivot.xs(partitions, level="partitions"))
            text.append(f"With {partitions} partitions, {len(part)} of {total} symbols land in a different "
                        f"partition under librdkafka's default (CRC32) than under murmur2 (Java, kafka-python): "
                        f"mixing clients on one keyed topic breaks per-key ordering unless confluent-kafka is set "
                        f"to partitioner=murmur2_random.")
    return " ".join(text)


def explain_deepdive_offsets(frame: pd.DataFrame) -> str:
    rows = numeric(frame, "rows_expected", "rows_written", "mismatched_rows", "seconds", "committed_offsets")
    if rows.empty:
        return ""
    lines = ["**Offsets and reprocessing, read from the table.**"]
    for _, r in rows.iterrows():
        equal = str(r["equal"]).lower() == "true"
        verdict = "identical to the expected rows" if equal else f"{_n(r['mismatched_rows'])} rows differ"
        extra = ""
        if "committed_offsets" in r and pd.notna(r["committed_offsets"]):
            extra = f" (the group had committed offsets summing to {_n(r['committed_offsets'])}, i.e. everything)"
        lines.append(f"- {r['scenario']}: {_n(r['rows_written'])} of {_n(r['rows_expected'])} expected rows, "
                     f"{verdict}{extra}.")
    lines.append("Offsets belong to the group, not to the data: a new group (or offsets reset by time) replays "
                 "the retained log and rebuilds the same CSV; the old group resumes where it committed.")
    return "\n".join(lines)


def explain_deepdive_compaction(frame: pd.DataFrame) -> str:
    rows = numeric(frame, "records", "distinct_keys", "tombstones", "seconds")
    if rows.empty or "phase" not in rows.columns:
        return ""
    phase = {p: r for p, r in zip(rows["phase"], rows.to_dict("records"))}
    written, before, after = phase.get("written"), phase.get("before-cleaning"), phase.get("after-cleaning")
    if not written or not after:
        return ""
    ok = str(after.get("latest_value_ok")).lower() == "true"
    early = ""
    if before and before["records"] < written["records"]:
        early = (f" A read right after writing already found only {_n(before['records'])}: the cleaner had "
                 f"started on the closed segments while we wrote.")
    return (f"**Compaction, read from the table.** We wrote {_n(written['records'])} records for "
            f"{_n(written['distinct_keys'])} keys ({_n(written['tombstones'])} of them tombstones).{early} "
            f"{_n(after['seconds'])} s later the log held {_n(after['records'])} "
            f"({_n(written['records'] / max(after['records'], 1))}× fewer than written), {_n(after['tombstones'])} "
            f"of them tombstones, and the latest value of every key {'survived' if ok else 'did NOT survive'}. "
            f"Use: a 'latest quote per symbol' topic that a new consumer reads in full to get the current state, "
            f"without the history.")


def explain_deepdive_retention_settings(frame: pd.DataFrame) -> str:
    rows = frame.copy()
    if rows.empty:
        return ""
    values = {str(n): str(v) for n, v in zip(rows["name"], rows["value"])}
    parts = []
    if "log.retention.check.interval.ms" in values:
        parts.append(f"the broker looks for segments past their retention every "
                     f"{_n(float(values['log.retention.check.interval.ms']) / 60000)} min")
    if "log.cleaner.backoff.ms" in values:
        parts.append(f"the log cleaner checks for work every {_n(float(values['log.cleaner.backoff.ms']) / 1000)} s")
    if "log.segment.bytes" in values:
        parts.append(f"segments roll at {_n(float(values['log.segment.bytes']) / 2**20)} MiB by default")
    return ("Retention and cleaning act on whole closed segments, on the broker's schedule: " + "; ".join(parts) +
            ". Records are therefore kept at least as long as retention.ms, often longer, and the active segment "
            "is never deleted or compacted.")
