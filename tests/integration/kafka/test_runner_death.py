"""A runner killed with SIGKILL (no chance to stop its components) leaves nothing running.

Components run in their own sessions (papermill kernels), so nothing would stop them; the
runner names itself in KAFKALAB_SUPERVISOR and each component's loop stops cleanly once
that process is gone.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from kafkalab.transports.kafka.lag import LagProbe

RUNNER = """
import sys, time
from kafkalab import config
from kafkalab.pipeline.plan import PipelinePlan
from kafkalab.pipeline.runner import Pipeline
lab = config.load(bootstrap_servers=sys.argv[1], results_dir=sys.argv[2], transport="kafka")
plan = PipelinePlan(seconds=0, shared={"streams": {"trades": sys.argv[3]}}, overrides={"trade-generator": {"rate_hz": 20}})
pipeline = Pipeline(lab, plan)
pipeline.start(["trade-generator"])  # seconds=0: no bound of its own
print(pipeline.processes["trade-generator"].popen.pid, flush=True)
time.sleep(600)
"""


def test_components_stop_by_themselves_when_their_runner_is_killed(bootstrap, new_topic, tmp_path):
    topic = new_topic(3)
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, bootstrap, str(tmp_path), topic],
                              stdout=subprocess.PIPE, text=True)
    try:
        papermill = psutil.Process(int(runner.stdout.readline()))
        probe, deadline = LagProbe(bootstrap), time.monotonic() + 90
        while sum(probe.end_offsets([topic]).values()) == 0:  # the generator's loop is running
            assert time.monotonic() < deadline and papermill.is_running(), "the generator never produced"
            time.sleep(0.5)
    finally:
        runner.kill()
        runner.wait()
    papermill.wait(timeout=90)  # not our child (the runner's): no exit code here, the log tells
    log = (tmp_path / "runs" / "generator_trades.log").read_text()
    assert f"the process that started it (pid {runner.pid}) is gone, stopping cleanly" in log, log[-2000:]
    assert " trade-generator: trade-generator: produced=" in log.split("is gone, stopping cleanly", 1)[1]  # its summary
    assert "Error" not in log, log[-2000:]
