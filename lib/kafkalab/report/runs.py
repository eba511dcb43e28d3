"""Which pipeline run the report shows, and how each component of the latest run went.

The CSVs under results/data accumulate over runs (a sink resumes after what it wrote).
A run is a stretch of trades without a pause longer than SESSION_GAP_S. The report shows
the latest *complete* run: every stream present with enough rows to plot. After a failed
or short run it says so, names what was missing and which component failed, and falls
back to the latest complete run instead of drawing one-dot plots.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

US_PER_S = 1_000_000
SESSION_GAP_S = 60.0
# Enough to draw a run: a few windows of every stream, trades over several seconds.
MIN_ROWS = {"trades": 20, "candles": 3, "book_features": 2}
MIN_SECONDS = 5.0

COMPONENT_NOTEBOOKS = ("generator_trades", "generator_orderbook", "processor_market", "sink_trades_csv",
                       "sink_candles_csv")
# Parameters that say where, not how: left out of the report's run table.
_PLUMBING = {"bootstrap_servers", "stop_file", "results_dir", "acked_csv"}


@dataclass(frozen=True)
class Session:
    start_us: int
    end_us: int  # the last trade produced
    frames: dict[str, pd.DataFrame | None]

    @property
    def seconds(self) -> float:
        return (self.end_us - self.start_us) / US_PER_S

    def rows(self, name: str) -> int:
        frame = self.frames.get(name)
        return 0 if frame is None else len(frame)

    def shortfalls(self) -> list[str]:
        """What keeps this run from being plotted: streams with too few rows, too short a run."""
        out = [f"{self.rows(n):,} {n.replace('_', ' ')} rows (fewer than {m})"
               for n, m in MIN_ROWS.items() if self.rows(n) < m]
        if self.seconds < MIN_SECONDS:
            out.append(f"trades over {self.seconds:.1f} s only")
        return out


def session_starts(produced_us: pd.Series, gap_s: float = SESSION_GAP_S) -> list[int]:
    """Start of every stretch of produced times without a pause longer than gap_s, oldest first."""
    times = np.sort(pd.to_numeric(produced_us, errors="coerce").dropna().to_numpy())
    if not len(times):
        return []
    pauses = np.flatnonzero(np.diff(times) > gap_s * US_PER_S)
    return [int(times[0])] + [int(times[i + 1]) for i in pauses]


def _cut(frame: pd.DataFrame | None, start: int, stop: int | None) -> pd.DataFrame | None:
    if frame is None or "produced_ts_us" not in frame.columns:
        return frame
    produced = pd.to_numeric(frame["produced_ts_us"], errors="coerce")
    keep = produced >= start if stop is None else (produced >= start) & (produced < stop)
    kept = frame[keep].reset_index(drop=True)
    return kept if len(kept) else None


def sessions(frames: dict[str, pd.DataFrame | None], gap_s: float = SESSION_GAP_S) -> list[Session]:
    """Every run in the CSVs, oldest first; derived rows belong to the run whose trades precede them."""
    trades = frames.get("trades")
    if trades is None or "produced_ts_us" not in trades.columns:
        return []
    starts = session_starts(trades["produced_ts_us"], gap_s)
    out = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else None
        cut = {name: _cut(frame, start, stop) for name, frame in frames.items()}
        produced = pd.to_numeric(cut["trades"]["produced_ts_us"], errors="coerce")
        out.append(Session(start, int(produced.max()), cut))
    return out


@dataclass(frozen=True)
class Choice:
    frames: dict[str, pd.DataFrame | None]  # the run shown
    note: str  # "" when the latest run is shown and complete


def choose_run(frames: dict[str, pd.DataFrame | None], failures: list[str] | None = None,
               gap_s: float = SESSION_GAP_S) -> Choice:
    """The latest complete run, and a note when that is not simply the latest run."""
    runs = sessions(frames, gap_s)
    if not runs:
        return Choice(dict(frames), "")
    latest = runs[-1]
    failed = f"; failed component(s): {', '.join(failures)}" if failures else ""
    if not latest.shortfalls() and not failures:
        return Choice(latest.frames, "")
    problem = ", ".join(latest.shortfalls()) or "a component failed"
    described = (f"The latest run (trades produced from {_clock(latest.start_us)} for {latest.seconds:,.0f} s) "
                 f"is incomplete: {problem}{failed}.")
    complete = [r for r in runs[:-1] if not r.shortfalls()]
    if not complete:
        return Choice(latest.frames, described + " No earlier complete run is in results/data: shown as it is.")
    shown = complete[-1]
    return Choice(shown.frames, described + f" Shown instead: the latest complete run, from "
                  f"{_clock(shown.start_us)} ({shown.seconds:,.0f} s, {shown.rows('trades'):,} trades, "
                  f"{shown.rows('candles'):,} candles).")


def _clock(us: int) -> str:
    return pd.Timestamp(us, unit="us", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def component_runs(results_dir: Path) -> pd.DataFrame | None:
    """One row per executed component notebook in results_dir/runs: parameters, timing, failure.

    Papermill records the parameters it injected, the start/end of the run and any
    exception in the executed notebook's metadata.
    """
    import nbformat

    rows = []
    for name in COMPONENT_NOTEBOOKS:
        path = Path(results_dir) / "runs" / f"{name}.ipynb"
        if not path.is_file():
            continue
        try:
            meta = nbformat.read(path, as_version=4).metadata.get("papermill", {})
        except Exception:  # noqa: BLE001 - a half-written notebook: skip it, the report goes on
            continue
        params = {k: v for k, v in (meta.get("parameters") or {}).items() if k not in _PLUMBING}
        rows.append({"component": name, "start_time": meta.get("start_time"), "duration_s": meta.get("duration"),
                     "failed": bool(meta.get("exception")),
                     "parameters": ", ".join(f"{k}={v}" for k, v in sorted(params.items()))})
    return pd.DataFrame(rows) if rows else None


def failed_components(results_dir: Path) -> list[str]:
    table = component_runs(results_dir)
    return [] if table is None else table.loc[table["failed"], "component"].tolist()
