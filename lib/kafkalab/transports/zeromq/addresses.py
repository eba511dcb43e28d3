"""Where each ZeroMQ stream lives, declared once, and the transport's settings.

One endpoint per stream. The component that *produces* a stream binds it (a generator
binds `trades` / `orderbooks`, the processor binds `candles` / `book-features`); every
consumer connects to the endpoints of the streams it reads. A connecting socket may
start before the binding one: ZeroMQ keeps retrying the connection by itself.

Local runs use 127.0.0.1 ports 5561-5564 (bound on loopback only). Another machine
layout (the compose file: service names) is given by one setting,
`KAFKALAB_ZMQ_ENDPOINTS="trades=tcp://generator-trades:5561,..."` (unnamed streams keep
their default). A producer binds the same port on all interfaces when the host is a name
(ZeroMQ binds to interfaces, not names) and on the given address when it is an IP;
`ipc://` paths are bound as given.

This module parses settings from an environment mapping; kafkalab.config (the one module
that reads os.environ) hands it over.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping

from kafkalab.config import ENV_ZEROMQ
from kafkalab.errors import ConfigError
from kafkalab.core.streams import BOOK_FEATURES, CANDLES, ORDERBOOKS, TRADES

# The names are declared in config.py, the one module that reads the environment.
ENV_VARS = ENV_ZEROMQ
ENV_ENDPOINTS, ENV_HWM = ENV_VARS

STREAMS = (TRADES, ORDERBOOKS, CANDLES, BOOK_FEATURES)
DEFAULT_ENDPOINTS: Mapping[str, str] = {
    TRADES: "tcp://127.0.0.1:5561",
    ORDERBOOKS: "tcp://127.0.0.1:5562",
    CANDLES: "tcp://127.0.0.1:5563",
    BOOK_FEATURES: "tcp://127.0.0.1:5564",
}
# Who reads each stream: a producer waits (bounded) for this many subscriptions before
# its first message, so a pipeline started in order loses nothing to "slow joiners".
SUBSCRIBERS = {TRADES: 2, ORDERBOOKS: 1, CANDLES: 1, BOOK_FEATURES: 1}

# Messages queued per peer before ZeroMQ acts: a PUB socket DROPS for a subscriber whose
# queue is full (it never blocks the producer), a SUB socket stops reading from TCP (the
# publisher's queue then fills and drops). 100,000 trades are ~10 MB: seconds of a burst.
DEFAULT_HWM = 100_000
MAX_HWM = 10_000_000


@dataclass(frozen=True)
class ZmqSettings:
    endpoints: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ENDPOINTS))
    hwm: int = DEFAULT_HWM
    subscriber_wait_s: float = 5.0  # how long a producer waits for its SUBSCRIBERS at start

    def connect_address(self, stream: str) -> str:
        return self.endpoints[stream]

    def bind_address(self, stream: str) -> str:
        return bind_address(self.endpoints[stream])


def bind_address(address: str) -> str:
    """What the producing side binds for an address consumers connect to."""
    scheme, _, rest = address.partition("://")
    if scheme != "tcp":
        return address
    host, _, port = rest.rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return address
    except ValueError:
        return f"tcp://*:{port}"  # a service name: listen on the container's interfaces


def parse_endpoints(text: str) -> dict[str, str]:
    """'trades=tcp://h:5561,candles=ipc:///tmp/c' -> every stream's endpoint (defaults filled in)."""
    endpoints = dict(DEFAULT_ENDPOINTS)
    for entry in filter(None, (e.strip() for e in text.split(","))):
        stream, is_pair, address = (part.strip() for part in entry.partition("="))
        if not is_pair or stream not in STREAMS:
            raise ConfigError(f"{ENV_ENDPOINTS} entries are stream=address with a stream among "
                              f"{', '.join(STREAMS)} (got {entry!r})")
        endpoints[stream] = check_address(address, stream)
    return endpoints


def check_address(address: str, stream: str = "") -> str:
    scheme, _, rest = address.partition("://")
    ok = scheme == "ipc" and rest or scheme == "tcp" and rest.rpartition(":")[2].isdigit() and rest.rpartition(":")[0]
    if not ok:
        raise ConfigError(f"ZeroMQ endpoint {address!r}{' for ' + stream if stream else ''} must be "
                          f"tcp://host:port or ipc:///path")
    return address


def settings_from_env(env: Mapping[str, str]) -> ZmqSettings:
    hwm_text = env.get(ENV_HWM, "").strip()
    try:
        hwm = int(hwm_text) if hwm_text else DEFAULT_HWM
    except ValueError:
        hwm = -1
    if not 1 <= hwm <= MAX_HWM:
        raise ConfigError(f"{ENV_HWM} must be a whole number of messages from 1 to {MAX_HWM} (got {hwm_text!r})")
    return ZmqSettings(parse_endpoints(env.get(ENV_ENDPOINTS, "")), hwm)


def settings_of(config) -> ZmqSettings:
    """The settings a LabConfig carries: `zeromq_env`, this transport's environment variables
    as config.py read them (a mapping or (name, value) pairs; absent = the defaults)."""
    return settings_from_env(dict(getattr(config, "zeromq_env", None) or ()))
