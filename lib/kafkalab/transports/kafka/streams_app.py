"""The market processor in Kafka Streams (jvm/market-streams): built once, run as a JVM subprocess.

`ensure_built(config)` packages the Maven module with the machine's `mvn` into
`<cache>/market-streams/<key>/` (the cache is the Kafka jar cache's folder, `.cache/` by default), keyed
by the Kafka version and a hash of the module's sources, so an edit rebuilds and a rebuild of the same
sources is skipped. It tries offline first (`mvn -o`: once the dependencies are in ~/.m2 this needs no
network) and goes online only when that fails. `command(...)` is the java command line that runs it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kafkalab.config import LabConfig
from kafkalab.errors import LabError

MAIN_CLASS = "kafkalab.streams.Main"
HEAP = "-Xmx384m"
_MARKER = "BUILD_COMPLETE"


class StreamsAppError(LabError):
    """The Kafka Streams processor could not be built or run."""


@dataclass(frozen=True)
class StreamsApp:
    home: Path  # holds market-streams-1.jar and lib/

    @property
    def classpath(self) -> str:
        return f"{self.home / 'market-streams-1.jar'}:{self.home / 'lib' / '*'}"

    def command(self, options: dict[str, object], heap: str = HEAP) -> list[str]:
        java = shutil.which("java")
        if not java:
            raise StreamsAppError("Java was not found on PATH; the Kafka Streams processor needs a JDK 17+ "
                                  "(apt-get install openjdk-17-jdk-headless)")
        return [java, heap, "-XX:+UseSerialGC", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp", self.classpath, MAIN_CLASS, *(f"--{k}={v}" for k, v in options.items())]


def module_dir(config: LabConfig) -> Path:
    return config.project_root / "jvm" / "market-streams"


def _key(module: Path, kafka_version: str) -> str:
    digest = hashlib.sha256(kafka_version.encode())
    for path in sorted([module / "pom.xml", *(module / "src").rglob("*.java")]):
        digest.update(str(path.relative_to(module)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_built(config: LabConfig, echo=print) -> StreamsApp:
    """The packaged app for this checkout's sources; built (offline first) unless cached."""
    module = module_dir(config)
    if not (module / "pom.xml").exists():
        raise StreamsAppError(f"the Kafka Streams module is missing ({module / 'pom.xml'})")
    version = config.cluster.kafka_version
    app = StreamsApp(config.cluster.cache_dir.parent / "market-streams" / _key(module, version))
    if (app.home / _MARKER).exists():
        return app
    mvn = shutil.which("mvn")
    if not mvn:
        raise StreamsAppError("Maven ('mvn') was not found on PATH; it builds the Kafka Streams processor "
                              "(apt-get install maven)")
    app.home.mkdir(parents=True, exist_ok=True)
    log = app.home / "build.log"
    base = [mvn, "-B", "-q", "package", f"-Dkafka.version={version}", f"-Dout.dir={app.home}"]
    with log.open("w") as out:
        for offline in (True, False):  # offline needs ~/.m2 filled by an earlier build
            if not offline:
                echo(f"building the Kafka Streams processor with mvn (fetching its dependencies) into {app.home} ...")
            done = subprocess.run(base + (["-o"] if offline else []), cwd=module, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if done.returncode == 0:
                break
    if done.returncode != 0 or not (app.home / "market-streams-1.jar").exists():
        raise StreamsAppError(f"building the Kafka Streams processor with mvn failed; see {log}")
    (app.home / _MARKER).write_text(version + "\n")
    return app
