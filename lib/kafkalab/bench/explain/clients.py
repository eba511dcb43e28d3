"""The producer and consumer limits (results/bench/producer.csv, consumer.csv) in words."""

from __future__ import annotations

import pandas as pd

from kafkalab.bench.explain.prose import _load_note, _n, _text
from kafkalab.bench.producer.cells import SECONDS
from kafkalab.report.figures.clients import reference_ratios
from kafkalab.report.results import numeric

# The public reference point the assignment names, not one of our measurements.
PEER_BEST_MSG_PER_S = 33_000
GOAL_RATIO_TO_JAVA = 0.5


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
    rows = numeric(frame, "record_bytes", "seconds", "ratio_to_java")
    if reference := reference_ratios(rows.assign(variant=_text(rows["variant"]))[_text(rows["client"]) != "java"]):
        lines.append(f"- The ratios to trust: {reference}. The grid's cells run {_n(SECONDS)} s, so their Java "
                     f"figures carry the JVM's warm-up.")
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
