"""Apache Kafka's jars, fetched once from Maven Central with the machine's `mvn`.

The jars land in `<cache>/<version>/libs`; a marker file says the fetch completed, so a
second `cluster up` reuses them without touching the network.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kafkalab.config import SCALA_VERSION, ClusterConfig
from kafkalab.errors import ClusterError

_MARKER = "FETCH_COMPLETE"


@dataclass(frozen=True)
class KafkaDist:
    home: Path
    version: str

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def classpath(self) -> str:
        return str(self.libs / "*")

    @property
    def log4j_config(self) -> Path:
        return self.home / "log4j2.xml"

    def is_fetched(self) -> bool:
        return (self.home / _MARKER).exists()


def dist_for(cluster: ClusterConfig) -> KafkaDist:
    return KafkaDist(home=cluster.cache_dir / cluster.kafka_version, version=cluster.kafka_version)


def require_java() -> str:
    java = shutil.which("java")
    if not java:
        raise ClusterError("Java was not found on PATH; install a JDK 17+ (e.g. apt-get install openjdk-17-jdk-headless)")
    return java


def _render_pom(version: str) -> str:
    template = resources.files("kafkalab.resources").joinpath("kafka-pom.xml").read_text()
    return template.replace("@KAFKA@", version).replace("@SCALA@", SCALA_VERSION)


def ensure_fetched(cluster: ClusterConfig, echo=print) -> KafkaDist:
    """Fetch Kafka's jars unless the cache already holds this version."""
    dist = dist_for(cluster)
    if dist.is_fetched():
        return dist
    mvn = shutil.which("mvn")
    if not mvn:
        raise ClusterError("Maven ('mvn') was not found on PATH; it fetches Kafka's jars (apt-get install maven)")
    dist.home.mkdir(parents=True, exist_ok=True)
    (dist.home / "pom.xml").write_text(_render_pom(dist.version))
    log = dist.home / "fetch.log"
    echo(f"fetching Apache Kafka {dist.version} jars with mvn into {dist.libs} ...")
    if dist.libs.exists():
        shutil.rmtree(dist.libs)
    with log.open("w") as out:
        done = subprocess.run(
            [mvn, "-B", "-q", "dependency:copy-dependencies",
             f"-DoutputDirectory={dist.libs}", "-DincludeScope=runtime"],
            cwd=dist.home, stdout=out, stderr=subprocess.STDOUT,
        )
    if done.returncode != 0 or not any(dist.libs.glob(f"kafka_{SCALA_VERSION}-*.jar")):
        raise ClusterError(f"fetching Kafka {dist.version} jars with mvn failed; see {log}")
    config = resources.files("kafkalab.resources").joinpath("log4j2.xml").read_text()
    dist.log4j_config.write_text(config)
    (dist.home / _MARKER).write_text(dist.version + "\n")
    return dist
