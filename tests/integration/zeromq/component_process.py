"""Runs one ZeroMQ component as its own process (so a test can kill -9 it):

    python component_process.py NAME RESULTS_DIR SOCKET_DIR [RATE_HZ]

SIGTERM stops it cleanly (run_loop's handler); it prints its summary line at the end.
"""

import sys

from kafkalab import config as lab_config
from kafkalab.runtime.params import ComponentParams
from kafkalab.runtime.loop import run_loop
from kafkalab.transports.zeromq.addresses import STREAMS, ZmqSettings
from kafkalab.transports.zeromq.components import build


def main(name: str, results_dir: str, socket_dir: str, rate_hz: str = "") -> None:
    settings = ZmqSettings({s: f"ipc://{socket_dir}/{s}" for s in STREAMS}, subscriber_wait_s=30.0)
    lab = lab_config.load(results_dir=results_dir)
    component = build(name, lab, ComponentParams.from_parameters(rate_hz=rate_hz), zmq_settings=settings)
    print(f"{name}: started", flush=True)
    run_loop(component)
    print(component.summary(), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
