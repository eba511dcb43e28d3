"""The contract's entry: `build(name, config, params)` -> the ZeroMQ component of that name.

`params` is a kafkalab.runtime.params.ComponentParams (or anything with the same
attributes: rate_hz, symbols, seed, instance); attributes it lacks take the defaults.
"""

from __future__ import annotations

from kafkalab.config import LabConfig
from kafkalab.errors import ConfigError
from kafkalab.runtime.loop import Component
from kafkalab.transports.zeromq.addresses import ZmqSettings, settings_of
from kafkalab.transports.zeromq.generator import ZmqOrderBookGenerator, ZmqTradeGenerator
from kafkalab.transports.zeromq.processor import ZmqMarketProcessor
from kafkalab.transports.zeromq.sink import candles_sink, trades_sink

NAMES = ("trade-generator", "orderbook-generator", "market-processor", "trades-sink", "candles-sink")


def build(name: str, config: LabConfig, params=None, *, zmq_settings: ZmqSettings | None = None) -> Component:
    settings = zmq_settings or settings_of(config)
    instance = str(getattr(params, "instance", "") or "0")
    if name in ("trade-generator", "orderbook-generator"):
        kind = ZmqTradeGenerator if name == "trade-generator" else ZmqOrderBookGenerator
        return kind(config, rate_hz=getattr(params, "rate_hz", None), symbols=getattr(params, "symbols", None),
                    seed=int(getattr(params, "seed", 7) or 7), instance=instance, zmq_settings=settings)
    if name == "market-processor":
        return ZmqMarketProcessor(config, instance=instance, zmq_settings=settings)
    if name == "trades-sink":
        return trades_sink(config, zmq_settings=settings)
    if name == "candles-sink":
        return candles_sink(config, zmq_settings=settings)
    raise ConfigError(f"unknown component {name!r}; choose one of {', '.join(NAMES)}")
