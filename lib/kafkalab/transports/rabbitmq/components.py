"""`build(name, config, params)`: the five components over RabbitMQ (the pipeline's entry)."""

from __future__ import annotations

from kafkalab.config import LabConfig
from kafkalab.errors import ConfigError
from kafkalab.runtime.loop import Component
from kafkalab.runtime.params import (CANDLES_SINK, COMPONENTS, MARKET_PROCESSOR, ORDERBOOK_GENERATOR,
                                     TRADE_GENERATOR, TRADES_SINK, ComponentParams)
from kafkalab.transports.rabbitmq.cluster import client_urls
from kafkalab.transports.rabbitmq.settings import rabbit_config


def build(name: str, config: LabConfig, params: ComponentParams) -> Component:
    if params.results_dir:
        config = config.with_overrides(results_dir=params.results_dir)
    urls = client_urls(rabbit_config(config))
    if name == TRADE_GENERATOR:
        from kafkalab.transports.rabbitmq.generator import TradeGenerator
        return TradeGenerator(config, params, urls)
    if name == ORDERBOOK_GENERATOR:
        from kafkalab.transports.rabbitmq.generator import OrderBookGenerator
        return OrderBookGenerator(config, params, urls)
    if name == MARKET_PROCESSOR:
        from kafkalab.transports.rabbitmq.processor import MarketProcessor
        return MarketProcessor(config, params, urls)
    if name in (TRADES_SINK, CANDLES_SINK):
        from kafkalab.transports.rabbitmq import sink
        if name == TRADES_SINK:
            return sink.TradesSink(config, params, urls, sink.trades_targets(config.data_dir))
        return sink.CandlesSink(config, params, urls, sink.candles_targets(config.data_dir))
    raise ConfigError(f"component must be one of {', '.join(COMPONENTS)} (got {name!r})")


def main(argv: list[str] | None = None) -> int:
    """`python -m kafkalab.transports.rabbitmq.components NAME [param=value ...]`: one component
    headless in this process (tests kill it with -9; the pipeline uses the notebooks)."""
    import sys

    from kafkalab import config as lab_config
    from kafkalab.errors import LabError
    from kafkalab.runtime.loop import run_component

    args = sys.argv[1:] if argv is None else argv
    try:
        values = dict(a.split("=", 1) for a in args[1:])
        params = ComponentParams.from_parameters(**values)
        component = build(args[0] if args else "", lab_config.load(), params)
        run_component(component, interactive=False, max_seconds=params.max_seconds,
                      max_messages=params.max_messages, stop_file=params.stop_file, progress_every_s=2.0)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
