"""Short Markdown explanations of the benchmark and deep-dive tables, numbers from the data.

The report calls `EXPLAINERS[<table name>](frame)` with the latest run's rows of
results/bench/<table name>.csv and shows the Markdown it returns. Every number in the
text is computed here from the frame; nothing measured is typed in by hand. The
`*_figures` functions return the numbers themselves (for tests and for other text).
"""

from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from kafkalab.report.results import numeric

# The public reference point named in the assignment (issue 6), not one of our measurements.
PEER_BEST_MSG_PER_S = 33_000
GOAL_RATIO_TO_JAVA = 0.5


# ---- formatting --------------------------------------------------------------------------------

def _n(value: float | int | None, digits: int = 3) -> str:
    """A number for prose: thousands separators for big ones, `digits` significant digits else."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    value = float(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _text(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip()


def _load_note(frame: pd.DataFrame) -> str:
    parts = []
    if "quick" in frame.columns and _text(frame["quick"]).str.lower().eq("true").any():
        parts.append("this was a --quick run (small samples, indicative only)")
    if "load_avg_1m" in frame.columns:
        load = pd.to_numeric(frame["load_avg_1m"], errors="coerce").dropna()
        if len(load):
            cores = f" on {frame['machine_cores'].iloc[0]} cores" if "machine_cores" in frame.columns else ""
            parts.append(f"the machine's 1-minute load average was {_n(load.min())} to {_n(load.max())}{cores} "
                         f"during the run (other work shares the CPU, so absolute rates are lower bounds; "
                         f"ratios compare clients measured side by side)")
    return (" *Note: " + "; ".join(parts) + ".*") if parts else ""


def _settings(row: pd.Series) -> str:
    if str(row.get("batching")) == "default":
        return "its default settings"
    return f"batching {row.get('batching')}, compression {row.get('compression')}"


# ---- producer ------------------------------------------------------------------------------------

def producer_figures(frame: pd.DataFrame) -> dict[str, object]:
    rows = numeric(frame, "record_bytes", "records_per_s", "ratio_to_java").dropna(subset=["records_per_s"])
    rows = rows.assign(acks=_text(rows["acks"]), variant=_text(rows["variant"]), client=_text(rows["client"]))
    small = rows[(rows["record_bytes"] == 100) & (rows["acks"] == "all") & (rows["variant"] == "grid")]
    figures: dict[str, object] = {}
    java = small[small["client"] == "java"]
    if len(java):
        best_java = java.loc[java["records_per_s"].idxmax()]
        figures["java_best"] = {"records_per_s": best_java["records_per_s"], "cell": best_java["cell"],
                                "settings": _settings(best_java)}
    figures["python_best"] = {}
    for client, part in small[small["client"] != "java"].groupby("client"):
        best = part.loc[part["records_per_s"].idxmax()]
        entry = {"records_per_s": best["records_per_s"], "cell": best["cell"], "settings": _settings(best),
                 "ratio_same_cell": best["ratio_to_java"]}
        if "java_best" in figures:
            entry["ratio_to_java_best"] = best["records_per_s"] / figures["java_best"]["records_per_s"]
        figures["python_best"][client] = entry
    # Tuned vs defaults from the defaults cell, where the two ran seconds apart.
    kp = rows[(rows["client"] == "kafka-python") & (rows["record_bytes"] == 100)]
    defaults = kp[kp["variant"] == "defaults"]["records_per_s"]
    pure = kp[kp["variant"] == "defaults-pure-crc"]["records_per_s"]
    tuned = kp[kp["variant"] == "tuned"]["records_per_s"]
    if len(defaults) and len(tuned):
        figures["kafka_python_tuned_factor"] = tuned.mean() / defaults.mean()
        figures["kafka_python_defaults"] = defaults.mean()
        figures["kafka_python_tuned"] = tuned.mean()
        figures["kafka_python_tuned_settings"] = _settings(kp[kp["variant"] == "tuned"].iloc[0])
    if len(pure) and len(tuned):
        figures["kafka_python_tuned_vs_pure_crc"] = tuned.mean() / pure.mean()
        figures["kafka_python_pure_crc"] = pure.mean()
    grid_kp = kp[(kp["variant"] == "grid") & (kp["acks"] == "all")]["records_per_s"]
    if len(defaults) and len(grid_kp):
        figures["kafka_python_best_grid_vs_defaults"] = grid_kp.max() / defaults.mean()
    python = rows[rows["client"] != "java"]
    if len(python):
        top = python.loc[python["records_per_s"].idxmax()]
        figures["python_top"] = {"client": top["client"], "records_per_s": top["records_per_s"], "cell": top["cell"]}
    return figures


def explain_producer(frame: pd.DataFrame) -> str:
    f = producer_figures(frame)
    lines = ["**Producer limits, read from the table.**"]
    java = f.get("java_best")
    if java:
        lines.append(f"- Java reference (ProducerPerformance) on 100 B records with acks=all: best "
                     f"{_n(java['records_per_s'])} records/s ({java['settings']}).")
    best_path = None
    for client, e in sorted(f.get("python_best", {}).items(), key=lambda kv: -kv[1]["records_per_s"]):
        best_path = best_path or (client, e)
        vs_best = f", {_n(e['ratio_to_java_best'])}× Java's best" if "ratio_to_java_best" in e else ""
        lines.append(f"- {client}: best {_n(e['records_per_s'])} records/s ({e['settings']}), "
                     f"{_n(e['ratio_same_cell'])}× Java in the same cell{vs_best}.")
    if best_path and java:
        client, e = best_path
        met = e["ratio_to_java_best"] >= GOAL_RATIO_TO_JAVA
        lines.append(f"- Goal (best Python path ≥ {_n(GOAL_RATIO_TO_JAVA)}× Java at 100 B, acks=all): "
                     f"{'met' if met else 'not met'} - {client} reaches {_n(e['ratio_to_java_best'])}× Java's best "
                     f"cell. Public peers' best single Python producer: {_n(PEER_BEST_MSG_PER_S)} msg/s; ours: "
                     f"{_n(e['records_per_s'])} records/s ({_n(e['records_per_s'] / PEER_BEST_MSG_PER_S)}×).")
    if "kafka_python_tuned_factor" in f:
        crc = ""
        if "kafka_python_tuned_vs_pure_crc" in f:
            crc = (f"; without the optional C CRC-32C extension (`pip install kafka-python` alone) its defaults give "
                   f"{_n(f['kafka_python_pure_crc'])} records/s, so tuned is "
                   f"{_n(f['kafka_python_tuned_vs_pure_crc'])}× that")
        grid = ""
        if "kafka_python_best_grid_vs_defaults" in f:
            grid = (f" Its best grid cell at 100 B, acks=all (another moment, another load) was "
                    f"{_n(f['kafka_python_best_grid_vs_defaults'])}× the defaults.")
        lines.append(f"- kafka-python tuned ({f['kafka_python_tuned_settings']}) vs its defaults, 100 B, run back to "
                     f"back: {_n(f['kafka_python_tuned'])} vs {_n(f['kafka_python_defaults'])} records/s = "
                     f"{_n(f['kafka_python_tuned_factor'])}×{crc}.{grid}")
    return "\n".join(lines) + _load_note(frame)


# ---- consumer ------------------------------------------------------------------------------------

def consumer_figures(frame: pd.DataFrame) -> dict[str, object]:
    rows = numeric(frame, "record_bytes", "records_per_s", "ratio_to_java").dropna(subset=["records_per_s"])
    rows = rows.assign(client=_text(rows["client"]), variant=_text(rows["variant"]))
    out: dict[str, object] = {}
    for size, part in rows.groupby("record_bytes"):
        java = part[part["client"] == "java"]["records_per_s"]
        python = part[part["client"] != "java"]
        entry: dict[str, object] = {"java_records_per_s": java.max() if len(java) else None}
        if len(python):
            best = python.loc[python["records_per_s"].idxmax()]
            entry["best"] = {"client": best["client"], "variant": best["variant"],
                             "records_per_s": best["records_per_s"], "ratio_to_java": best["ratio_to_java"]}
        for client in ("confluent-kafka", "kafka-python"):
            mine = python[python["client"] == client].groupby("variant")["records_per_s"].max()
            if len(mine) >= 2 and "defaults" in mine:
                entry[f"{client}_best_vs_defaults"] = mine.max() / mine["defaults"]
        out[int(size)] = entry
    return out


def explain_consumer(frame: pd.DataFrame) -> str:
    f = consumer_figures(frame)
    lines = ["**Consumer limits, read from the table** (rates over all compressions of a record size; "
             "group join excluded for every client)."]
    for size, e in sorted(f.items()):
        best = e.get("best")
        if not best:
            continue
        extra = []
        for client in ("confluent-kafka", "kafka-python"):
            if f"{client}_best_vs_defaults" in e:
                extra.append(f"{client}'s best way is {_n(e[f'{client}_best_vs_defaults'])}× its defaults")
        lines.append(f"- {size} B: Java up to {_n(e['java_records_per_s'])} records/s; best Python "
                     f"{best['client']} ({best['variant']}) {_n(best['records_per_s'])} records/s = "
                     f"{_n(best['ratio_to_java'])}× Java in its cell" + ("; " + "; ".join(extra) if extra else "") + ".")
    ratios = [(size, e["best"]["ratio_to_java"]) for size, e in sorted(f.items()) if e.get("best")]
    if len(ratios) > 1:
        rising = all(b >= a for (_, a), (_, b) in zip(ratios, ratios[1:]))
        trend = ("grows with the record size: the Python clients pay per record, so small records show the "
                 "largest gap to Java" if rising else "does not grow steadily with the record size in this run")
        lines.append(f"The best Python ratio to Java ({', '.join(f'{s} B: {_n(r)}×' for s, r in ratios)}) {trend}.")
    return "\n".join(lines) + _load_note(frame)


# ---- scaling -------------------------------------------------------------------------------------

def scaling_figures(frame: pd.DataFrame) -> dict[str, object]:
    rows = numeric(frame, "partitions", "instances", "busy_instances", "records_per_s", "worker_cores",
                "broker_cores", "machine_cores", "machine_cpu_percent").dropna(subset=["records_per_s"])
    out: dict[str, object] = {}
    if rows.empty:
        return out
    best = rows.loc[rows["records_per_s"].idxmax()]
    out["best"] = {k: best[k] for k in ("partitions", "instances", "busy_instances", "records_per_s",
                                        "worker_cores", "broker_cores", "machine_cpu_percent") if k in best}
    base = rows[(rows["partitions"] == 1) & (rows["instances"] == 1)]["records_per_s"]
    if len(base):
        out["single"] = base.iloc[0]
        out["best_vs_single"] = best["records_per_s"] / base.iloc[0]
    per_partitions = {}
    for partitions, part in rows.groupby("partitions"):
        part = part.sort_values("instances")
        rates = list(zip(part["instances"].astype(int), part["records_per_s"]))
        stop = None
        for k in range(1, len(rates)):
            # From here on, no instance count beats the previous one by 10 %: they no longer help.
            if max(r for _, r in rates[k:]) < 1.1 * rates[k - 1][1]:
                stop = rates[k][0]
                break
        per_partitions[int(partitions)] = {"rates": rates, "no_gain_from": stop}
    out["per_partitions"] = per_partitions
    if "machine_cores" in rows.columns and rows["machine_cores"].notna().any():
        out["machine_cores"] = rows["machine_cores"].max()
    idle = rows[rows["instances"] > rows.get("busy_instances", rows["instances"])]
    out["idle_cells"] = list(idle["cell"]) if "cell" in idle.columns else []
    return out


def explain_scaling(frame: pd.DataFrame) -> str:
    f = scaling_figures(frame)
    if not f:
        return ""
    best = f["best"]
    lines = ["**Scaling the processor, read from the table.**"]
    if "single" in f:
        lines.append(f"- One instance on one partition: {_n(f['single'])} records/s. Best: "
                     f"{int(best['partitions'])} partitions with {int(best['instances'])} instances at "
                     f"{_n(best['records_per_s'])} records/s ({_n(f['best_vs_single'])}×).")
    for partitions, e in sorted(f["per_partitions"].items()):
        rates = ", ".join(f"{i}: {_n(r)}" for i, r in e["rates"])
        stop = (f"; from {e['no_gain_from']} instances on, never 10 % more" if e["no_gain_from"] else "")
        lines.append(f"- {partitions} partition(s), records/s by instances - {rates}{stop}.")
    if "worker_cores" in best and "machine_cores" in f and math.isfinite(best.get("worker_cores", math.nan)):
        used = best["worker_cores"] + best["broker_cores"]
        per_instance = best["worker_cores"] / max(best.get("busy_instances", best["instances"]), 1)
        machine = best.get("machine_cpu_percent")
        busy = (f"; the whole machine was {_n(machine)} % busy (other work included)"
                if machine is not None and math.isfinite(machine) else "")
        lines.append(f"- In the best cell the processor processes used {_n(best['worker_cores'])} cores "
                     f"({_n(per_instance)} per busy instance) and the brokers {_n(best['broker_cores'])}: "
                     f"{_n(used)} of {int(f['machine_cores'])}{busy}.")
        if per_instance < 0.5:
            lines.append("- An instance that uses less than half a core is mostly waiting - for fetches and for its "
                         "transaction commits (one per step, acknowledged by all in-sync replicas) - so adding "
                         "instances (separate processes, no shared GIL) still adds throughput until the cores or "
                         "the brokers are busy.")
        elif used >= 0.8 * f["machine_cores"]:
            lines.append("- The processes and the brokers together nearly fill the machine's cores: beyond this, "
                         "more instances only take turns on the same cores.")
    if f.get("idle_cells"):
        lines.append(f"- More instances than partitions leave some idle ({', '.join(f['idle_cells'])}): a partition "
                     f"is read by one member of the group at a time.")
    return "\n".join(lines) + _load_note(frame)


def explain_scaling_timeline(frame: pd.DataFrame) -> str:
    rows = numeric(frame, "t_s", "lag", "consumed").dropna(subset=["t_s", "lag"])
    if rows.empty or "cell" not in rows.columns:
        return ""
    drained = rows[rows["lag"] <= 0].groupby("cell")["t_s"].min().sort_values()
    if drained.empty:
        return "No cell drained its backlog within the samples."
    return (f"Backlog drained fastest in {drained.index[0]} ({_n(drained.iloc[0])} s after the backlog was "
            f"written) and slowest in {drained.index[-1]} ({_n(drained.iloc[-1])} s).")


# ---- replication ---------------------------------------------------------------------------------

def replication_figures(frame: pd.DataFrame) -> dict[str, object]:
    rows = numeric(frame, "replication_factor", "records_per_s", "rf3_vs_rf1", "ratio_to_java", "latency_p99_ms",
                "lost", "duplicates", "acked", "longest_stall_s", "latency_max_ms", "isr_full_after_restart_s",
                "client_errors", "errors")
    kind = _text(rows["kind"]) if "kind" in rows.columns else pd.Series("throughput", index=rows.index)
    out: dict[str, object] = {"throughput": {}}
    for _, r in rows[kind == "throughput"].iterrows():
        out["throughput"][(str(r["client"]), int(r["replication_factor"]), str(r["acks"]))] = {
            "records_per_s": r["records_per_s"], "rf3_vs_rf1": r.get("rf3_vs_rf1"),
            "latency_p99_ms": r.get("latency_p99_ms"), "ratio_to_java": r.get("ratio_to_java")}
    failure = rows[kind == "failure"]
    if len(failure):
        r = failure.iloc[-1]
        out["failure"] = {k: r.get(k) for k in ("acked", "lost", "duplicates", "errors", "client_errors",
                                                 "longest_stall_s", "latency_max_ms", "isr_full_after_restart_s",
                                                 "killed_broker", "kill_at_s", "restart_at_s")}
    return out


def explain_replication(frame: pd.DataFrame) -> str:
    f = replication_figures(frame)
    lines = ["**Replication, read from the table.**"]
    for (client, rf, acks), e in sorted(f["throughput"].items()):
        if rf == 3 and e.get("rf3_vs_rf1") is not None and math.isfinite(e["rf3_vs_rf1"]):
            lines.append(f"- {client}, acks={acks}: RF 3 reaches {_n(e['rf3_vs_rf1'])}× the RF 1 rate "
                         f"({_n(e['records_per_s'])} records/s, p99 {_n(e['latency_p99_ms'])} ms).")
    if "failure" in f:
        e = f["failure"]
        verdict = "as required" if e["lost"] == 0 else "**a durability bug**"
        lines.append(f"- Broker {_n(e['killed_broker'])} killed (kill -9) at {_n(e['kill_at_s'])} s and restarted at "
                     f"{_n(e['restart_at_s'])} s while producing with acks=all, RF 3, min ISR 2: "
                     f"{_n(e['acked'])} records acknowledged, {_n(e['lost'])} of them lost ({verdict}), "
                     f"{_n(e['duplicates'])} duplicated, {_n(e['errors'])} delivery errors. Writes stalled for at "
                     f"most {_n(e['longest_stall_s'])} s (the leader's partitions wait until the controller fences "
                     f"the dead broker and elects new leaders); the slowest acknowledgement took "
                     f"{_n(e['latency_max_ms'])} ms." +
                     (f" All replicas were in sync again {_n(e['isr_full_after_restart_s'])} s after the restart."
                      if e.get("isr_full_after_restart_s") is not None and
                      math.isfinite(float(e["isr_full_after_restart_s"])) else ""))
    return "\n".join(lines) + _load_note(frame)


def explain_replication_timeline(frame: pd.DataFrame) -> str:
    rows = numeric(frame, "t_s", "sent", "acked", "errors", "kill_at_s").dropna(subset=["t_s"]).sort_values("t_s")
    if rows.empty:
        return ""
    kill = rows["kill_at_s"].iloc[0] if "kill_at_s" in rows.columns else None
    if kill is None or not math.isfinite(kill):
        return ""
    before = rows[rows["t_s"] < kill]["acked"]
    normal = before.median() if len(before) else rows["acked"].median()
    producing = rows[rows["sent"] > 0]["t_s"].max()
    after = rows[(rows["t_s"] > kill) & (rows["t_s"] <= producing)]
    zero = int((after["acked"] == 0).sum())
    back = after[(after["acked"] >= 0.9 * normal) & (after["t_s"] > kill + 1)]
    text = (f"Before the kill about {_n(normal)} acknowledgements per second; {zero} second(s) after it (while "
            f"producing) had none "
            f"(records queued in the producer, none failed: {_n(rows['errors'].sum())} delivery errors)")
    if len(back):
        text += f"; the rate was back to ≥ 90 % {_n(back['t_s'].iloc[0] - kill)} s after the kill"
    return text + "."


# ---- deep dives ----------------------------------------------------------------------------------

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


EXPLAINERS: dict[str, Callable[[pd.DataFrame], str]] = {
    "producer": explain_producer,
    "consumer": explain_consumer,
    "scaling": explain_scaling,
    "scaling_timeline": explain_scaling_timeline,
    "replication": explain_replication,
    "replication_timeline": explain_replication_timeline,
    "deepdive_rebalance": explain_deepdive_rebalance,
    "deepdive_rebalance_events": explain_deepdive_rebalance_events,
    "deepdive_keys": explain_deepdive_keys,
    "deepdive_key_map": explain_deepdive_key_map,
    "deepdive_offsets": explain_deepdive_offsets,
    "deepdive_compaction": explain_deepdive_compaction,
    "deepdive_retention_settings": explain_deepdive_retention_settings,
}
