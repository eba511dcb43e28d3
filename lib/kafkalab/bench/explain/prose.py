"""Numbers and notes for the prose of the explanations."""

from __future__ import annotations

import math

import pandas as pd


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
