"""Bonus 1: serializers more efficient than JSON (results/bench/serializers.csv)."""

from __future__ import annotations

from kafkalab.config import DEFAULT_SERIALIZER, LabConfig
from kafkalab.report import results
from kafkalab.report.display import show_heading, show_markdown
from kafkalab.report.sections.tables import show_subsections

HEADING = "Bonus 1: serializers more efficient than JSON"
INTRO = f"""\
Every producer can write JSON, MessagePack or Avro (schemaless binary Avro with the schema in the
code), per topic (`KAFKALAB_SERIALIZER=orderbooks=avro,msgpack`); the format travels in the
`content-type` header, so every consumer decodes whatever it receives and formats can change
while the pipeline runs. The application's default is `{DEFAULT_SERIALIZER}`. The measurement below
encodes and decodes the application's own messages (with the validation a consumer pays) and then
produces them through the real cluster with acks=all.
"""
AFTER = """\
**What we chose and why.** Binary formats shrink the large, nested order books most (numbers and
repeated field names are where JSON spends its bytes); for the small trades the saving is smaller and
CPU time per message matters more than size. Size is what the brokers store three times (RF 3) and
ship to every consumer group; CPU time is what limits one Python producer.
"""


def show(config: LabConfig, res: results.Results) -> None:
    show_heading(1, HEADING)
    show_markdown(INTRO)
    show_subsections("bonus1", res, after={"Size, CPU time and throughput per format": AFTER})
