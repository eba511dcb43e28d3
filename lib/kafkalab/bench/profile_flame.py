"""Reading py-spy's flame graph SVG: which frames the sampled process was in, by own samples.

py-spy (through inferno) writes one `<g>` per frame of the merged stacks, with the frame's
name in `<title>`, its depth as the rectangle's `y` and its place and width in samples as
`fg:x` and `fg:w`. A frame's own samples are its width minus its children's (the frames one
row above it, inside its span): where the process was when sampled (a native wait such as
`poll (libc.so.6)`, librdkafka's queue calls, Python code...).
"""

from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r'<g><title>(?P<title>[^<]*)</title><rect x="[^"]*" y="(?P<y>[\d.]+)"[^>]*?'
                    r'fg:x="(?P<x>\d+)" fg:w="(?P<w>\d+)"')
_SAMPLES = re.compile(r" \([\d,]+ samples?, [\d.]+%\)$")


@dataclass(frozen=True)
class Frame:
    name: str
    depth_y: float
    x: int
    width: int


def read_frames(svg_path: Path) -> list[Frame]:
    text = Path(svg_path).read_text(errors="replace")
    return [Frame(_SAMPLES.sub("", html.unescape(m["title"])), float(m["y"]), int(m["x"]), int(m["w"]))
            for m in _FRAME.finditer(text)]


def _rows(frames: list[Frame]) -> tuple[list[Frame], float, dict[float, list[Frame]]]:
    """The root row, the y step from a frame to its children, and the frames by row.

    The root ("all") sits at the top or at the bottom, depending on how the graph was drawn."""
    rows: dict[float, list[Frame]] = {}
    for frame in frames:
        rows.setdefault(frame.depth_y, []).append(frame)
    for row in rows.values():
        row.sort(key=lambda f: f.x)
    depths = sorted(rows)
    gap = min((b - a for a, b in zip(depths, depths[1:])), default=16.0)
    top, bottom = depths[0], depths[-1]
    root_y = top if sum(f.width for f in rows[top]) >= sum(f.width for f in rows[bottom]) else bottom
    return rows[root_y], (gap if root_y == top else -gap), rows


def own_samples(frames: list[Frame]) -> dict[str, int]:
    """Samples per frame name in which that frame was the innermost one."""
    if not frames:
        return {}
    _roots, step, rows = _rows(frames)
    starts = {y: [f.x for f in row] for y, row in rows.items()}
    totals: dict[str, int] = {}
    for frame in frames:
        child_y = frame.depth_y + step
        children = rows.get(child_y, [])
        lo = bisect.bisect_left(starts.get(child_y, []), frame.x)
        hi = bisect.bisect_left(starts.get(child_y, []), frame.x + frame.width)
        own = frame.width - sum(c.width for c in children[lo:hi])
        if own > 0:
            name = _named(frame, rows, starts, step)
            totals[name] = totals.get(name, 0) + own
    return totals


def _is_python(frame: Frame) -> bool:
    return ".py:" in frame.name or "(<string>" in frame.name


def _named(frame: Frame, rows: dict[float, list[Frame]], starts: dict[float, list[int]], step: float) -> str:
    """A native frame is named with its nearest Python caller, which says what the process
    waited in or computed: "pthread_cond_timedwait (libc.so.6) in _Generator.finish (...)";
    an unsymbolised address ("0x7f.. (libc.so.6)") is shown by its library."""
    if _is_python(frame):
        return frame.name
    leaf = frame.name.partition(" ")[2] if frame.name.startswith("0x") else frame.name
    caller = frame
    while not _is_python(caller):
        parent_y = caller.depth_y - step
        row = rows.get(parent_y)
        if not row:
            return leaf
        caller = row[max(0, bisect.bisect_right(starts[parent_y], caller.x) - 1)]
    return f"{leaf} in {caller.name}"


def total_samples(frames: list[Frame]) -> int:
    """All samples: the width of the root row."""
    return sum(f.width for f in _rows(frames)[0]) if frames else 0


def top_own_frames(svg_path: Path, limit: int = 8) -> list[tuple[str, int, float]]:
    """(frame, own samples, share of all samples), most first."""
    frames = read_frames(svg_path)
    total = total_samples(frames) or 1
    ranked = sorted(own_samples(frames).items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return [(name, n, round(n / total, 4)) for name, n in ranked]


def thread_shares(svg_path: Path) -> dict[str, float]:
    """Share of samples per thread: with py-spy's --threads, the frames right above the root."""
    frames = read_frames(svg_path)
    if not frames:
        return {}
    roots, step, rows = _rows(frames)
    total = sum(f.width for f in roots) or 1
    shares: dict[str, float] = {}
    for frame in rows.get(roots[0].depth_y + step, []):
        shares[frame.name] = round(shares.get(frame.name, 0.0) + frame.width / total, 4)
    return shares
