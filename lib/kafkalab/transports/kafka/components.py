"""The five Kafka components, built from the typed, transport-free parameters.

    build(name, config, params) -> Component

`name` is one of kafkalab.runtime.params.COMPONENTS. Each stream (kafkalab.core.streams)
is a topic of the same name unless `params.streams` renames it (tests and benchmarks run on fresh topics); each
consumer joins its default group below unless `params.group_id` names another.
"""

from __future__ import annotations

from pathlib import Path

from kafkalab.config import LabConfig
from kafkalab.errors import ConfigError
from kafkalab.runtime.loop import Component
from kafkalab.runtime.params import (CANDLES_SINK, MARKET_PROCESSOR, ORDERBOOK_GENERATOR, TRADE_GENERATOR, TRADES_SINK,
                                     ComponentParams)
from kafkalab.core.streams import BOOK_FEATURES, CANDLES, DEAD_LETTERS, ORDERBOOKS, TRADES

# Each consumer component's consumer group unless params.group_id says otherwise.
DEFAULT_GROUPS = {MARKET_PROCESSOR: "market-processor", TRADES_SINK: "sink-trades-csv", CANDLES_SINK: "sink-candles-csv"}
# The streams (= topics) each consumer reads: its lag is counted over these.
INPUTS = {MARKET_PROCESSOR: (TRADES, ORDERBOOKS), TRADES_SINK: (TRADES,), CANDLES_SINK: (CANDLES, BOOK_FEATURES)}


def group_id(name: str, params: ComponentParams) -> str:
    return params.group_id or DEFAULT_GROUPS[name]


def input_topics(name: str, params: ComponentParams) -> list[str]:
    return [params.stream(stream) for stream in INPUTS[name]]


def build(name: str, config: LabConfig, params: ComponentParams) -> Component:
    builders = {TRADE_GENERATOR: _trade_generator, ORDERBOOK_GENERATOR: _orderbook_generator,
                MARKET_PROCESSOR: _market_processor, TRADES_SINK: _trades_sink, CANDLES_SINK: _candles_sink}
    if name not in builders:
        raise ConfigError(f"component must be one of {', '.join(builders)} (got {name!r})")
    return builders[name](config, params)


def _generator_options(params: ComponentParams) -> dict:
    # rate_hz None = the generator's own default; 0 = as fast as possible ("max").
    return {"rate_hz": params.rate_hz, "symbols": params.symbols or None, "seed": params.seed,
            "delivery_timeout_s": params.delivery_timeout_s, "producer_overrides": dict(params.producer_settings)}


def _trade_generator(config: LabConfig, params: ComponentParams) -> Component:
    from kafkalab.transports.kafka.generator import TradeGenerator

    return TradeGenerator(config, topic=params.stream(TRADES), acked_csv=params.acked_csv,
                          **_generator_options(params))


def _orderbook_generator(config: LabConfig, params: ComponentParams) -> Component:
    from kafkalab.transports.kafka.generator import OrderBookGenerator

    return OrderBookGenerator(config, topic=params.stream(ORDERBOOKS), **_generator_options(params))


def _market_processor(config: LabConfig, params: ComponentParams) -> Component:
    from kafkalab.transports.kafka.processor import MarketProcessor, Topics

    topics = Topics(*(params.stream(s) for s in (TRADES, ORDERBOOKS, CANDLES, BOOK_FEATURES, DEAD_LETTERS)))
    if params.engine == "streams":
        from kafkalab.transports.kafka.streams_processor import StreamsProcessor

        return StreamsProcessor(config, group_id=group_id(MARKET_PROCESSOR, params), instance=params.instance,
                                topics=topics, allowed_lateness_ms=params.allowed_lateness_ms,
                                idle_timeout_ms=params.idle_timeout_ms)
    return MarketProcessor(config, group_id=group_id(MARKET_PROCESSOR, params), instance=params.instance,
                           topics=topics, allowed_lateness_ms=params.allowed_lateness_ms,
                           idle_timeout_ms=params.idle_timeout_ms)


def _sink_settings(name: str, config: LabConfig, params: ComponentParams, targets: tuple):
    from kafkalab.transports.kafka.sink import SinkSettings

    return SinkSettings(config.bootstrap_servers, group_id(name, params), targets, params.stream(DEAD_LETTERS),
                        params.max_batch)


def _trades_sink(config: LabConfig, params: ComponentParams) -> Component:
    from kafkalab.transports.kafka.sink import TradesCsvSink, trades_target

    targets = (trades_target(Path(config.data_dir), params.stream(TRADES)),)
    return TradesCsvSink(_sink_settings(TRADES_SINK, config, params, targets))


def _candles_sink(config: LabConfig, params: ComponentParams) -> Component:
    from kafkalab.core.csvstore import candles_targets
    from kafkalab.transports.kafka.sink import CandlesCsvSink

    targets = candles_targets(Path(config.data_dir), params.stream(CANDLES), params.stream(BOOK_FEATURES))
    return CandlesCsvSink(_sink_settings(CANDLES_SINK, config, params, targets))
