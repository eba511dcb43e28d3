"""Bad configuration fails fast, in one line that names the problem and the fix.

Issue 7, part 4. Each case runs the way a user meets it - the `kafkalab` CLI, a
component's entry point, or a notebook under papermill - and must:
- end by itself well within its timeout (a hang fails the test through the timeout),
- exit non-zero (CLI: 1; papermill: non-zero) or raise a LabError,
- say what went wrong and how to fix it on ONE line (`error: ...` for the CLI).

Cases: unreachable bootstrap servers, a malformed bootstrap list, a missing topic, an
unknown serializer, an unwritable results folder, bad numeric parameters, a port already
taken when `kafkalab cluster up` starts a private cluster (no node may be left running),
Java or Maven missing from PATH.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psutil
import pytest

from kafkalab import config as lab_config
from kafkalab.transports.kafka.clients import KafkaUnavailable
from kafkalab.errors import ConfigError, LabError
from kafkalab.transports.kafka.dist import dist_for

from helpers import papermill

ROOT = Path(__file__).resolve().parents[3]
KAFKALAB = [sys.executable, "-m", "kafkalab.cli"]
AD_HOC_BASE_PORT = 28092  # our private ports for clusters started by these tests
CLI_TIMEOUT_S = 60  # every CLI case must end well within this

pytestmark = pytest.mark.timeout(240)


# -- helpers ---------------------------------------------------------------------------

def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, timeout_s: float = CLI_TIMEOUT_S, drop: tuple[str, ...] = (), **env: str):
    """Run the CLI with extra environment; subprocess.TimeoutExpired (a hang) fails the test."""
    full = {**os.environ, **env}
    for name in drop:
        full.pop(name, None)
    return subprocess.run([*KAFKALAB, *args], env=full, capture_output=True, text=True,
                          timeout=timeout_s, cwd=ROOT, stdin=subprocess.DEVNULL)


def error_line(result: subprocess.CompletedProcess) -> str:
    """The CLI failed with exit 1 and exactly one `error: ...` line, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


def assert_mentions(text: str, *words: str) -> None:
    for word in words:
        assert word in text, f"{word!r} missing from: {text}"


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert isinstance(exc, LabError), f"{type(exc).__name__}: {text}"
    assert text and "\n" not in text, repr(text)
    return text


def blocked_dir(tmp_path: Path) -> Path:
    """A folder that cannot be created even by root: its parent is a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    return blocker / "results"


def jvms_of(run_dir: Path) -> list[int]:
    marker = str(run_dir)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if "kafka.Kafka" in cmdline and marker in cmdline:
            found.append(proc.info["pid"])
    return found


# -- unreachable or malformed bootstrap servers -----------------------------------------

def test_cli_run_unreachable_bootstrap(tmp_path):
    # (`topics list` is covered in test_cluster.py)
    address = f"127.0.0.1:{free_port()}"
    result = cli("run", "--seconds", "5", **{lab_config.ENV_BOOTSTRAP: address, lab_config.ENV_RESULTS_DIR: str(tmp_path)})
    line = error_line(result)
    assert_mentions(line, f"cannot reach Kafka at {address}", "KAFKA_BOOTSTRAP_SERVERS")


def test_cli_malformed_bootstrap():
    line = error_line(cli("topics", "list", **{lab_config.ENV_BOOTSTRAP: "localhost"}))
    assert_mentions(line, "KAFKA_BOOTSTRAP_SERVERS", "host:port", "'localhost'")


def _components(bootstrap: str, results_dir: str = "", serializer: str = "", **streams: str):
    """Each component through the notebooks' one entry, bounded, as zero-argument callables."""
    from kafkalab.pipeline.entry import run_component

    def run(name: str):
        return lambda: run_component(name, transport="kafka", bootstrap_servers=bootstrap, results_dir=results_dir,
                                     serializer=serializer, streams=streams, interactive=False, max_seconds=20)

    return {name: run(name) for name in COMPONENTS}


COMPONENTS = ("trade-generator", "orderbook-generator", "market-processor", "trades-sink", "candles-sink")


def test_every_component_fails_fast_on_unreachable_bootstrap(tmp_path):
    """All five entry points at once (each waits its bounded probe; in parallel to save time)."""
    from concurrent.futures import ThreadPoolExecutor

    address = f"127.0.0.1:{free_port()}"

    def outcome(run) -> BaseException | None:
        try:
            run()
        except BaseException as exc:  # noqa: BLE001 - the test inspects whatever it was
            return exc
        return None

    runs = _components(address, str(tmp_path))
    with ThreadPoolExecutor(len(runs)) as pool:
        results = dict(zip(runs, pool.map(outcome, runs.values())))
    for name, exc in results.items():
        assert isinstance(exc, KafkaUnavailable), f"{name}: {exc!r}"
        assert_mentions(one_line(exc), f"cannot reach Kafka at {address}", "kafkalab cluster up")


# -- a missing topic ---------------------------------------------------------------------

@pytest.mark.parametrize("name", COMPONENTS)
def test_component_missing_topic(name, bootstrap, unique_name, tmp_path):
    missing = unique_name("missing")
    run = _components(bootstrap, str(tmp_path), trades=missing, orderbooks=missing, candles=missing)[name]
    with pytest.raises(LabError) as err:
        run()
    assert_mentions(one_line(err.value), missing, "do not exist", "kafkalab topics create")


def test_processor_notebook_missing_topic_exits_non_zero_with_the_line(bootstrap, unique_name, tmp_path):
    missing = unique_name("missing")
    run = papermill("processor_market.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    streams=f"trades={missing}", max_seconds=10)
    assert run.returncode != 0
    assert_mentions(run.stderr + run.stdout, f"topic(s) {missing} do not exist", "kafkalab topics create")


# -- an unknown serializer ---------------------------------------------------------------

def test_cli_run_unknown_serializer_fails_before_starting_anything(tmp_path):
    # An unreachable cluster proves the serializer is checked first (else: "cannot reach").
    env = {lab_config.ENV_BOOTSTRAP: f"127.0.0.1:{free_port()}", lab_config.ENV_RESULTS_DIR: str(tmp_path)}
    for result in (cli("run", "--seconds", "5", "--serializer", "xml", **env),
                   cli("run", "--seconds", "5", **{**env, lab_config.ENV_SERIALIZER: "protobuf"})):
        assert_mentions(error_line(result), "unknown serializer", "choose one of json, msgpack, avro")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ("trade-generator", "orderbook-generator", "market-processor"))
def test_component_unknown_serializer(name, bootstrap):
    with pytest.raises(ConfigError) as err:
        _components(bootstrap, serializer="xml")[name]()
    assert_mentions(one_line(err.value), "unknown serializer 'xml'", "choose one of json, msgpack, avro")


def test_generator_notebook_unknown_serializer_exits_non_zero_with_the_line(bootstrap, tmp_path):
    run = papermill("generator_trades.ipynb", tmp_path / "out.ipynb", bootstrap_servers=bootstrap,
                    serializer="xml", max_seconds=5)
    assert run.returncode != 0
    assert "ConfigError: unknown serializer 'xml'; choose one of json, msgpack, avro" in run.stderr + run.stdout


# -- an unwritable results folder ---------------------------------------------------------

def test_cli_run_unwritable_results_folder(bootstrap, tmp_path):
    results = blocked_dir(tmp_path)
    line = error_line(cli("run", "--seconds", "5", **{lab_config.ENV_BOOTSTRAP: bootstrap,
                                                      lab_config.ENV_RESULTS_DIR: str(results)}))
    assert_mentions(line, f"cannot write to results folder {results}", "KAFKALAB_RESULTS_DIR")


@pytest.mark.parametrize("name", ("trades-sink", "candles-sink"))
def test_sink_unwritable_results_folder(name, bootstrap, tmp_path):
    with pytest.raises(LabError) as err:
        _components(bootstrap, str(blocked_dir(tmp_path)))[name]()
    assert_mentions(one_line(err.value), "cannot write to results folder", "results_dir")


def test_generator_unwritable_acked_file(bootstrap, tmp_path):
    from kafkalab.pipeline.entry import run_component

    with pytest.raises(ConfigError) as err:
        run_component("trade-generator", bootstrap_servers=bootstrap, results_dir=str(blocked_dir(tmp_path)),
                      acked_csv="acked.csv", interactive=False, max_seconds=5)
    assert_mentions(one_line(err.value), "acked.csv", "acked_csv")


# -- nonsense parameters -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"rate_hz": "fast"}, ("rate_hz", "'fast'")),
    ({"rate_hz": -5}, ("rate_hz", "from 1")),
    ({"symbols": "AAPL,XXXX"}, ("XXXX", "choose from")),
    ({"max_seconds": -1}, ("max_seconds",)),
])
def test_generator_bad_parameters(kwargs, words, bootstrap):
    from kafkalab.pipeline.entry import run_component

    with pytest.raises(ConfigError) as err:
        run_component("trade-generator", bootstrap_servers=bootstrap, interactive=False, **{"max_seconds": 5, **kwargs})
    assert_mentions(one_line(err.value), *words)


# -- `kafkalab cluster up`: a taken port, Java or Maven missing -----------------------------

@pytest.fixture
def ad_hoc_cluster(tmp_path):
    """Environment for a private cluster on our ad-hoc ports; whatever it started is stopped."""
    run_dir = tmp_path / "cluster"
    env = {lab_config.ENV_BASE_PORT: str(AD_HOC_BASE_PORT), lab_config.ENV_CLUSTER_DIR: str(run_dir)}
    if not dist_for(lab_config.load().cluster).is_fetched():
        pytest.skip("Kafka's jars are not fetched yet (the session cluster fetches them)")
    yield env, run_dir
    if jvms_of(run_dir):
        cli("cluster", "down", drop=(lab_config.ENV_BOOTSTRAP,), timeout_s=120, **env)


@pytest.mark.parametrize("node, which", [(1, "broker"), (3, "controller")])
def test_cluster_up_port_taken_fails_fast_and_starts_nothing(ad_hoc_cluster, node, which):
    env, run_dir = ad_hoc_cluster
    cfg = lab_config.load(env)
    port = cfg.cluster.broker_port(node) + (1 if which == "controller" else 0)
    with closing(socket.socket()) as squatter:
        try:
            squatter.bind(("127.0.0.1", port))
        except OSError:
            pytest.skip(f"port {port} is in use by something else on this machine")
        squatter.listen()
        line = error_line(cli("cluster", "up", drop=(lab_config.ENV_BOOTSTRAP,), **env))
    assert_mentions(line, f"port {port}", "already in use", "KAFKALAB_BASE_PORT")
    assert jvms_of(run_dir) == [], "a failed `cluster up` left Kafka nodes running"


def test_cluster_up_without_java_on_path(ad_hoc_cluster, tmp_path):
    env, run_dir = ad_hoc_cluster
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    line = error_line(cli("cluster", "up", drop=(lab_config.ENV_BOOTSTRAP,), PATH=str(empty), **env))
    assert_mentions(line, "Java was not found on PATH", "install a JDK")
    # `kafkalab run` with no cluster to reach tries to start the local one: same line.
    line = error_line(cli("run", "--seconds", "3", drop=(lab_config.ENV_BOOTSTRAP,), PATH=str(empty),
                          **{**env, lab_config.ENV_RESULTS_DIR: str(tmp_path / "results")}))
    assert_mentions(line, "Java was not found on PATH")
    assert jvms_of(run_dir) == []


def test_cluster_up_without_maven_on_path_and_no_cached_jars(ad_hoc_cluster, tmp_path):
    import shutil

    env, run_dir = ad_hoc_cluster
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java on this machine")
    only_java = tmp_path / "only-java"
    only_java.mkdir()
    (only_java / "java").symlink_to(os.path.realpath(java))
    line = error_line(cli("cluster", "up", drop=(lab_config.ENV_BOOTSTRAP,), PATH=str(only_java),
                          **{**env, lab_config.ENV_KAFKA_CACHE: str(tmp_path / "empty-cache")}))
    assert_mentions(line, "Maven ('mvn') was not found on PATH", "apt-get install maven")
    assert jvms_of(run_dir) == []
