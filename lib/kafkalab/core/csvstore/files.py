"""The folder the CSVs live in: proven writable up front; bookkeeping kept apart in `.state/`."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from kafkalab.errors import LabError

STATE_DIR = ".state"


class CsvFileError(LabError):
    """A CSV file or its folder cannot be used; the message names the path and the fix."""


def require_writable_dir(folder: Path) -> Path:
    """Create `folder` if needed and prove we can write there, before consuming anything."""
    folder = Path(folder)
    probe = folder / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # unique: two sinks may probe at once
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise CsvFileError(
            f"cannot write to results folder {folder} ({exc.strerror or type(exc).__name__}); "
            f"make it writable or choose another with KAFKALAB_RESULTS_DIR or the results_dir parameter"
        ) from None
    return folder


def state_path(csv_path: Path, suffix: str) -> Path:
    """Where a bookkeeping file of `csv_path` lives: `<folder>/.state/<file name><suffix>`.

    Earlier versions kept it beside the CSV; such a file is moved in (a rename keeps the inode,
    so a lock held on it by a running sink still holds, and a source sidecar keeps protecting)."""
    csv_path = Path(csv_path)
    folder = csv_path.parent / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (csv_path.name + suffix)
    beside = csv_path.parent / path.name
    if beside.exists() and not path.exists():
        beside.replace(path)
    return path


def fsync_dir(folder: Path) -> None:
    """Make a created or renamed file's directory entry durable too."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
