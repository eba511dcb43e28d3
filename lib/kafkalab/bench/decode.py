"""Decode benchmark: the consumers' hot path, `serde.decode` against `serde.decode_reference`.

`kafkalab bench decode [--quick]` appends to results/bench/decode.csv one row per format x
message type, both paths timed in the same process and run, their passes interleaved
(serializers.time_passes), over the same seeded messages as the serializers benchmark:

    messages, repeats       distinct messages decoded per pass, timed passes (median taken)
    reference_us, fast_us   the median pass per record (µs): decode_reference() (the
                            generic shape check and model validation) and decode() (the
                            inline-checked path, falling back to the reference for anything
                            it does not accept)
    reference_best_us, fast_best_us   the same from the fastest pass
    reference_records_per_s, fast_records_per_s   1e6 / the median µs
    speedup                 reference_us / fast_us
    codec_us                the format alone (bytes -> wire dict), for scale
    machine_cpu_percent, load_avg_1m   machine load while the timings ran
plus format, message_type, quick, the library versions and bench.common's machine columns.
No broker is involved: both paths are pure functions of payload and headers.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from kafkalab.bench.common import append_rows
from kafkalab.bench.harness import LoadProbe
from kafkalab.bench.serializers import library_versions, sample_messages, time_passes
from kafkalab.config import LabConfig
from kafkalab.core import serde
from kafkalab.core.serde.codecs import DECODERS
from kafkalab.errors import LabError

EXPERIMENT = "decode"
MESSAGE_TYPES = ("trade", "orderbook", "candle", "book_features")
PATHS = {"reference": serde.decode_reference, "fast": serde.decode}


@dataclass(frozen=True)
class Settings:
    messages: int  # distinct messages per type
    repeats: int  # timed passes per path (median taken)


FULL = Settings(1000, 15)
QUICK = Settings(200, 5)


def _passes(fmt: str, mtype: str, messages: list) -> dict:
    encoded = [serde.encode(m, fmt) for m in messages]
    for name, decode in PATHS.items():
        if [decode(p, h) for p, h in encoded] != messages:
            raise LabError(f"decode benchmark: the {name} path does not round-trip every {fmt} {mtype}")
    payloads = [p for p, _ in encoded]
    codec = DECODERS[fmt]
    works = {name: (lambda d=decode: [d(p, h) for p, h in encoded]) for name, decode in PATHS.items()}
    works["codec"] = lambda: [codec(p, mtype) for p in payloads]
    return works


def row(fmt: str, mtype: str, passes: dict, n: int, repeats: int) -> dict:
    median_us = {name: statistics.median(passes[name]) / n * 1e6 for name in (*PATHS, "codec")}
    out = {"format": fmt, "message_type": mtype, "messages": n, "repeats": repeats}
    for name in PATHS:
        out[f"{name}_us"] = round(median_us[name], 3)
        out[f"{name}_best_us"] = round(min(passes[name]) / n * 1e6, 3)
        out[f"{name}_records_per_s"] = round(1e6 / median_us[name], 1)
    out["speedup"] = round(median_us["reference"] / median_us["fast"], 2)
    out["codec_us"] = round(median_us["codec"], 3)
    return out


def measure(settings: Settings, types: tuple[str, ...] = MESSAGE_TYPES) -> list[dict]:
    samples = sample_messages(settings.messages)
    rows = []
    for mtype in types:
        for fmt in serde.FORMATS:
            with LoadProbe() as load:
                passes = time_passes(_passes(fmt, mtype, samples[mtype]), settings.repeats)
            rows.append({**row(fmt, mtype, passes, settings.messages, settings.repeats), **load.columns()})
    return rows


def run(config: LabConfig, quick: bool = False) -> int:
    rows = measure(QUICK if quick else FULL)
    for r in rows:
        print(f"{EXPERIMENT}: {r['message_type']:>13} {r['format']:>7}  reference {r['reference_us']:8.2f} µs  "
              f"fast {r['fast_us']:7.2f} µs  x{r['speedup']:.2f}  (load {r['load_avg_1m']})")
    extra = {"quick": quick, **library_versions()}
    path = config.bench_dir / f"{EXPERIMENT}.csv"
    written = append_rows(path, [{**r, **extra} for r in rows])
    print(f"{EXPERIMENT}: {written} rows appended to {path}")
    return written
