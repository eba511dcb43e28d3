"""The components' entrypoint as the kubelet starts it, run for real: on a fresh volume the
folders papermill writes to exist before the notebook starts, and the notebook's exit status
is the container's (so a failure restarts it). The SIGTERM -> stop file path is the compose
wrapper's own, exercised in tests/unit/deploy/test_compose.py."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .k8s_render import container, find

CHILD = ("import os, sys\n"
         "sys.exit(int(sys.argv[1]) if os.path.isdir('results/runs') and os.path.isdir('results/data') else 4)\n")


def _entrypoint(rendered, tmp_path, status: int) -> int:
    (processor,) = find(rendered["local"], "StatefulSet")
    command = container(processor)["command"]
    # the stop file goes to the test's folder, not the shared /tmp
    script = re.sub(r"^stop_file=\S+$", f"stop_file={tmp_path / 'stop'}", command[2], flags=re.M)
    volume = tmp_path / "lab"
    volume.mkdir()
    done = subprocess.run([*command[:2], script, command[3], sys.executable, "-c", CHILD, str(status)],
                          cwd=volume, timeout=30)
    return done.returncode


@pytest.mark.timeout(60)
@pytest.mark.parametrize("status", [0, 3])
def test_entrypoint_prepares_the_volume_and_passes_on_the_exit_status(rendered, tmp_path, status):
    assert _entrypoint(rendered, tmp_path, status) == status
