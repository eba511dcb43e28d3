"""The replication tables (results/bench/replication.csv, replication_timeline.csv) in words."""

from __future__ import annotations

import math

import pandas as pd

from kafkalab.bench.explain.prose import _load_note, _n, _text
from kafkalab.report.results import numeric


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
