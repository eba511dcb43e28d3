"""requirements.lock pins every dependency that pyproject.toml declares, at a version pyproject allows.

A dependency added to pyproject.toml without re-making the lock (see its header) fails here, so
`make run` / `make test`, which install from the lock, never miss it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)")


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            assert name not in found, f"{name} pinned twice"
            found[name] = match.group(2)
    return found


def test_every_declared_dependency_is_pinned_at_an_allowed_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    locked = pins()
    missing = [str(r) for r in declared if canonicalize_name(r.name) not in locked]
    assert not missing, f"not in requirements.lock (re-make it, see its header): {missing}"
    outside = [f"{r} (locked {locked[canonicalize_name(r.name)]})" for r in declared
               if not r.specifier.contains(locked[canonicalize_name(r.name)], prereleases=True)]
    assert not outside, f"locked outside pyproject's range: {outside}"
