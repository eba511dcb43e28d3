"""The processor scaling tables (results/bench/scaling.csv, scaling_timeline.csv) in words."""

from __future__ import annotations

import math

import pandas as pd

from kafkalab.bench.explain.prose import _load_note, _n
from kafkalab.report.results import numeric


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
