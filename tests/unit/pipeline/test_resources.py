"""ResourceMeter on real processes: CPU time adds up across samples and restarts, an exited
process keeps what it used, memory is the peak."""

import subprocess
import sys

from kafkalab.pipeline.resources import ResourceMeter, Usage

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nprint('done', flush=True)\ninput()"


def busy_process() -> subprocess.Popen:
    """A child that burns 0.3 s of CPU, says so, then waits on stdin."""
    proc = subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "done"
    return proc


def test_cpu_of_a_component_adds_its_processes_and_survives_their_exit():
    meter = ResourceMeter()
    first = busy_process()
    meter.sample("sink", [first.pid])
    meter.sample("sink", [first.pid])  # a second sample of the same process adds nothing new
    after_first = meter.usage["sink"].cpu_s
    assert 0.25 <= after_first < 5
    first.communicate("\n")
    meter.sample("sink", [first.pid])  # gone: skipped, its time stays counted
    assert meter.usage["sink"].cpu_s == after_first
    meter.begin()  # the steady window leaves out what came before
    second = busy_process()  # the restarted component: a new pid, its time adds up
    meter.sample("sink", [second.pid])
    second.communicate("\n")
    meter.end()
    assert meter.usage["sink"].cpu_s >= after_first + 0.25
    assert meter.usage["sink"].peak_rss_mib > 1
    assert meter.steady_s > 0 and meter.steady_cpu_percent("sink") > 0
    assert 100 * (meter.usage["sink"].cpu_s - after_first) / meter.steady_s == meter.steady_cpu_percent("sink")
    assert "sink " in meter.summary() and " MiB" in meter.summary()


def test_usage_keeps_the_peak_memory_and_the_cpu_deltas_per_pid():
    usage = Usage()
    usage.note(10, 1.0, 50 * 2**20)
    usage.note(10, 1.5, 30 * 2**20)
    usage.note(11, 0.25, 40 * 2**20)
    assert usage.cpu_s == 1.75 and usage.peak_rss_mib == 50


def test_a_meter_that_sampled_nothing_says_so():
    meter = ResourceMeter()
    meter.end()  # an end without a beginning is no window
    assert meter.summary() == "no component resources sampled" and meter.steady_cpu_percent("sink") is None
