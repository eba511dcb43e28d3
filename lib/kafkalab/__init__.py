"""Kafka Streaming Lab: generators, a processor, sinks, benchmarks and a local Kafka cluster."""

__version__ = "0.1.0"
