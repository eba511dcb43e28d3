"""The contract's entry: `build(name, config, params)` -> the ZeroMQ component of that name.

From kafkalab.runtime.params.ComponentParams it uses rate_hz, symbols, seed, serializer,
instance, allowed_lateness_ms, idle_timeout_ms and max_batch; the others (group_id,
producer_settings, acked_csv, ...) mean nothing without a broker and are ignored.
Bounds (max_seconds, max_messages, stop_file) are the runtime loop's business.
"""

from __future__ import annotations

from kafkalab.config import LabConfig
from kafkalab.errors import ConfigError
from kafkalab.runtime.loop import Component
from kafkalab.runtime.params import (CANDLES_SINK, COMPONENTS, GENERATORS, MARKET_PROCESSOR, TRADE_GENERATOR,
                                     TRADES_SINK, ComponentParams)
from kafkalab.transports.zeromq.addresses import ZmqSettings, settings_of
from kafkalab.transports.zeromq.generator import ZmqOrderBookGenerator, ZmqTradeGenerator
from kafkalab.transports.zeromq.processor import ZmqMarketProcessor
from kafkalab.transports.zeromq.sink import candles_sink, trades_sink



def build(name: str, config: LabConfig, params: ComponentParams | None = None, *,
          zmq_settings: ZmqSettings | None = None) -> Component:
    params = params or ComponentParams()
    if params.serializer:
        config = config.with_overrides(serializer=params.serializer)
    if params.results_dir:
        config = config.with_overrides(results_dir=params.results_dir)
    settings = zmq_settings or settings_of(config)
    if name in GENERATORS:
        kind = ZmqTradeGenerator if name == TRADE_GENERATOR else ZmqOrderBookGenerator
        return kind(config, rate_hz=params.rate_hz, symbols=params.symbols or None, seed=params.seed,
                    instance=params.instance, zmq_settings=settings)
    if name == MARKET_PROCESSOR:
        return ZmqMarketProcessor(config, instance=params.instance, zmq_settings=settings,
                                  allowed_lateness_ms=params.allowed_lateness_ms,
                                  idle_timeout_ms=params.idle_timeout_ms)
    if name == TRADES_SINK:
        return trades_sink(config, zmq_settings=settings, max_batch=params.max_batch)
    if name == CANDLES_SINK:
        return candles_sink(config, zmq_settings=settings, max_batch=params.max_batch)
    raise ConfigError(f"component must be one of {', '.join(COMPONENTS)} (got {name!r})")
