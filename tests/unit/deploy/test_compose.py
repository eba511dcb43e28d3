"""The Docker path, checked without a Docker engine.

This machine has only the docker client, so docker-compose.yml and jupyter/Dockerfile are
read as files and held against the package: the Kafka version, the topic command, the
notebooks and their `parameters` cells, the environment variables config.py reads, the
listeners clients are given, and exposure (127.0.0.1 only, JupyterLab with a token).
The components' stop wrapper is a real bash script: it is run here for real. And the file
is loaded by compose-go, the library `docker compose` itself is built on (schema,
interpolation, merges), when a Go toolchain is available.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kafkalab import config as lab_config
from kafkalab.transports.kafka.topics import TOPICS

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "jupyter" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

BROKERS = ("broker-1", "broker-2", "broker-3")
# service name -> notebook stem (names fixed by DESIGN.md / CONTRACTS.md)
COMPONENTS = {
    "generator-trades": "generator_trades",
    "generator-orderbook": "generator_orderbook",
    "processor-market": "processor_market",
    "sink-trades-csv": "sink_trades_csv",
    "sink-candles-csv": "sink_candles_csv",
}
LAB_SERVICES = ("topics", "jupyter", *COMPONENTS)  # services that run our image
# Variables our containers get that the package does not read, each with its reader.
NON_PACKAGE_ENV = {"JUPYTER_TOKEN": "jupyter_server"}
INTERNAL_PORT = 19092
CONTROLLER_PORT = 9093


# -- helpers ------------------------------------------------------------------------

def _interpolate(value, env: dict[str, str] | None = None):
    """Compose's variable substitution: $$ -> $, ${X}, ${X:-default}, ${X-default}, $X."""
    if not isinstance(value, str):
        return value
    env = env or {}

    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        default = match.group("default")
        op = match.group("op")
        current = env.get(name)
        if op == ":-" and not current:
            return default or ""
        if op == "-" and current is None:
            return default or ""
        return current or ""

    pattern = r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    return re.sub(pattern, sub, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE_FILE.exists(), "docker-compose.yml is missing"
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE list syntax
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(_interpolate(v)) for k, v in env.items()}


def _argv(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(part) for part in value]


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """'INTERNAL://broker-1:19092,EXTERNAL://:9092' -> {'INTERNAL': ('broker-1', 19092), ...}"""
    result = {}
    for item in value.split(","):
        name, address = item.strip().split("://", 1)
        host, port = address.rsplit(":", 1)
        result[name] = (host, int(port))
    return result


def _published_ports(service: dict) -> list[dict]:
    """Every `ports` entry as {host_ip, published, target}, short or long syntax."""
    out = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            out.append({"host_ip": entry.get("host_ip", ""), "published": str(entry.get("published", "")),
                        "target": str(entry.get("target", ""))})
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) == 3:
            out.append({"host_ip": parts[0], "published": parts[1], "target": parts[2]})
        elif len(parts) == 2:
            out.append({"host_ip": "", "published": parts[0], "target": parts[1]})
        else:
            out.append({"host_ip": "", "published": "", "target": parts[0]})
    return out


def _parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged `parameters`."""
    nb = json.loads(notebook.read_text())
    cells = [c for c in nb["cells"] if "parameters" in (c.get("metadata", {}).get("tags") or [])]
    assert len(cells) == 1, f"{notebook.name}: expected exactly one cell tagged 'parameters', found {len(cells)}"
    source = cells[0]["source"]
    tree = ast.parse("".join(source) if isinstance(source, list) else source)
    names = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _papermill_call(argv: list[str]) -> tuple[str, str, dict[str, str]]:
    """(input notebook, output notebook, {-p/-r name: value}), parsed by papermill's own CLI."""
    from papermill.cli import papermill as papermill_cli

    assert argv[:3] == ["python", "-m", "papermill"], f"not a papermill call: {argv}"
    params = papermill_cli.make_context("papermill", argv[3:]).params  # rejects unknown options
    for opaque in ("parameters_file", "parameters_yaml", "parameters_base64"):
        assert not params[opaque], f"pass parameters with -p/-r so they can be checked, not {opaque}"
    given = {name: value for name, value in (*params["parameters"], *params["parameters_raw"])}
    return params["notebook_path"], params["output_path"], given


def _component_script(service: dict) -> tuple[str, list[str]]:
    """The bash wrapper (as bash receives it, after compose's $$ -> $) and its argv prefix."""
    entry = _argv(service.get("entrypoint"))
    assert entry[:2] == ["bash", "-c"] and len(entry) == 4, f"unexpected component entrypoint {entry}"
    raw = entry[2]
    assert "$" not in raw.replace("$$", ""), "a single $ in the wrapper would be interpolated by compose; write $$"
    return _interpolate(raw), entry


# -- services, images, exposure ---------------------------------------------------------

def test_every_service_is_present(services):
    expected = {*BROKERS, "topics", "kafdrop", "jupyter", *COMPONENTS}
    missing = expected - set(services)
    assert not missing, f"docker-compose.yml lacks services {sorted(missing)}"


def test_images_are_pinned_and_kafka_matches_the_package(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name}: give every service an explicit image (with build:, the tag of the built image)"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
    for broker in BROKERS:
        assert services[broker]["image"] == f"apache/kafka:{lab_config.KAFKA_VERSION}", (
            f"{broker} must run apache/kafka:{lab_config.KAFKA_VERSION} (kafkalab.config.KAFKA_VERSION)")
    assert services["kafdrop"]["image"].startswith("obsidiandynamics/kafdrop:")
    for name in LAB_SERVICES:
        build = services[name].get("build") or {}
        assert build.get("dockerfile") == "jupyter/Dockerfile" and build.get("context") in (".", "./"), (
            f"{name} must be built from jupyter/Dockerfile with the repository as context")
    assert len({services[name]["image"] for name in LAB_SERVICES}) == 1, "our services must share one image"


def test_every_published_port_is_bound_to_localhost(services):
    published = {}
    for name, service in services.items():
        for port in _published_ports(service):
            assert port["host_ip"] == "127.0.0.1", f"{name}: port {port} must be bound to 127.0.0.1"
            published[name] = published.get(name, set()) | {int(port["published"])}
    assert published.get("kafdrop") == {9000}
    assert published.get("jupyter") == {8888}
    exposed = {name for name in published} - {*BROKERS, "kafdrop", "jupyter"}
    assert not exposed, f"only brokers, Kafdrop and JupyterLab publish ports, not {sorted(exposed)}"


# -- KRaft and listeners -------------------------------------------------------------------

def test_kraft_settings_are_consistent(services):
    envs = {b: _env(services[b]) for b in BROKERS}
    node_ids = {b: int(envs[b]["KAFKA_NODE_ID"]) for b in BROKERS}
    assert len(set(node_ids.values())) == len(BROKERS), f"node ids must be unique: {node_ids}"

    cluster_ids = {envs[b]["CLUSTER_ID"] for b in BROKERS}
    assert len(cluster_ids) == 1, f"all nodes need the same CLUSTER_ID, got {cluster_ids}"
    cluster_id = cluster_ids.pop()
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, "CLUSTER_ID must be a base64url UUID (22 chars)"

    expected_voters = {f"{node_ids[b]}@{b}:{CONTROLLER_PORT}" for b in BROKERS}
    for broker, env in envs.items():
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller", f"{broker}: combined broker+controller"
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == expected_voters, (
            f"{broker}: quorum voters must list all three nodes")
        assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
        listeners = _listeners(env["KAFKA_LISTENERS"])
        assert listeners["CONTROLLER"][1] == CONTROLLER_PORT, f"{broker}: controller port must match the voters"
        assert "CONTROLLER" not in _listeners(env["KAFKA_ADVERTISED_LISTENERS"]), "never advertise the controller"


def test_replication_settings_match_the_topic_spec(services):
    for broker in BROKERS:
        env = _env(services[broker])
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", "consumer offsets need RF 3 too"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics come from kafkalab.transports.kafka.topics only"
        assert env["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data", "data must live on the broker's volume"
        assert any(v.endswith(":/var/lib/kafka/data") for v in services[broker].get("volumes", [])), (
            f"{broker}: mount a volume on its data folder")
    # The application topics need what the brokers provide.
    assert all(spec.replication_factor == 3 and spec.all_configs()["min.insync.replicas"] == "2" for spec in TOPICS)


def test_listeners_internal_for_containers_external_on_localhost(services):
    internal, external = set(), set()
    for broker in BROKERS:
        env = _env(services[broker])
        listeners = _listeners(env["KAFKA_LISTENERS"])
        advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert set(listeners) == set(protocol_map), f"{broker}: every listener needs a protocol"
        assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL", "brokers talk over the internal listener"
        for name, (_host, port) in advertised.items():
            assert listeners[name][1] == port, f"{broker}: {name} is advertised on a port it does not listen on"
        assert advertised["INTERNAL"] == (broker, INTERNAL_PORT)
        host, port = advertised["EXTERNAL"]
        assert host == "127.0.0.1", f"{broker}: the host listener is advertised as 127.0.0.1"
        assert {"host_ip": "127.0.0.1", "published": str(port), "target": str(port)} in _published_ports(services[broker]), (
            f"{broker}: advertised 127.0.0.1:{port} must be published on the same host port")
        internal.add(f"{broker}:{INTERNAL_PORT}")
        external.add(f"127.0.0.1:{port}")

    # Host tools: the package's default bootstrap list reaches the Docker cluster.
    default_cluster = lab_config.load(env={}).cluster
    assert external == set(default_cluster.bootstrap_servers.split(","))
    # Containers: every client is given exactly the brokers' internal listeners.
    for name in LAB_SERVICES:
        given = _env(services[name]).get(lab_config.ENV_BOOTSTRAP)
        assert given, f"{name} must get {lab_config.ENV_BOOTSTRAP}"
        assert set(lab_config.parse_bootstrap(given).split(",")) == internal, (
            f"{name}: {lab_config.ENV_BOOTSTRAP}={given} must list the internal listeners {sorted(internal)}")
    assert set(_env(services["kafdrop"])["KAFKA_BROKERCONNECT"].split(",")) == internal


def test_brokers_have_healthchecks_and_services_start_in_order(services):
    for broker in BROKERS:
        check = services[broker].get("healthcheck") or {}
        test = " ".join(_argv(check.get("test")))
        assert "kafka-broker-api-versions.sh" in test and f":{INTERNAL_PORT}" in test, (
            f"{broker}: the healthcheck must ask the broker itself over the Kafka protocol")
        assert services[broker].get("restart") in ("unless-stopped", "always", "on-failure")
    for name in ("topics", "kafdrop"):
        deps = services[name]["depends_on"]
        assert {b: deps[b]["condition"] for b in BROKERS} == dict.fromkeys(BROKERS, "service_healthy"), name
    for name in ("jupyter", *COMPONENTS):
        assert services[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully", (
            f"{name} must wait until the topics exist")


# -- our services and the package ---------------------------------------------------------

def test_topics_job_uses_the_package_topic_command(services):
    topics = services["topics"]
    argv = _argv(topics.get("command"))
    assert argv[:3] == ["kafkalab", "topics", "create"], f"the topics job must run `kafkalab topics create`, not {argv}"
    from kafkalab.cli import build_parser

    args = build_parser().parse_args(argv[1:])  # the CLI accepts exactly these arguments
    assert args.action == "create"
    assert str(topics.get("restart", "no")) == "no", "a one-shot job must not restart"


def test_env_var_names_are_ones_the_package_reads(services):
    for name in LAB_SERVICES:
        for var in _env(services[name]):
            assert var in lab_config.ENV_VARS or var in NON_PACKAGE_ENV, (
                f"{name}: {var} is not read by the package (kafkalab.config.ENV_VARS) nor by {set(NON_PACKAGE_ENV.values())}")
    for var in re.findall(r"\b(KAFKA(?:LAB)?_[A-Z_]+)=", DOCKERFILE.read_text()):
        assert var in lab_config.ENV_VARS, f"jupyter/Dockerfile sets {var}, which the package does not read"


def test_results_are_bind_mounted(services):
    for name in ("jupyter", *COMPONENTS):
        assert "./results:/lab/results" in services[name].get("volumes", []), f"{name}: bind-mount ./results"
        assert _env(services[name]).get(lab_config.ENV_RESULTS_DIR, "/lab/results") == "/lab/results"


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_each_component_runs_its_notebook_with_papermill(services, name):
    stem, service = COMPONENTS[name], services[name]
    source, output, params = _papermill_call(_argv(service.get("command")))
    assert source == f"notebooks/{stem}.ipynb", f"{name} runs {source}"
    assert output == f"results/runs/{stem}.ipynb", f"{name}: executed notebook goes to results/runs/"
    notebook = ROOT / source
    assert notebook.exists(), f"{name}: {source} does not exist yet (notebook owners: see CONTRACTS.md)"
    defined = _parameters(notebook)
    unknown = set(params) - defined
    assert not unknown, f"{name}: papermill -p/-r {sorted(unknown)} not in {source}'s parameters cell {sorted(defined)}"
    from papermill.cli import papermill as papermill_cli

    options = papermill_cli.make_context("papermill", _argv(service["command"])[3:]).params
    assert options["log_output"], f"{name}: --log-output, to see the notebook's progress in `docker compose logs`"
    assert service.get("restart") == "on-failure", f"{name}: restart on failure only"


def test_component_stop_file_matches_the_wrapper(services):
    for name in COMPONENTS:
        script, _ = _component_script(services[name])
        stop_file = re.search(r"^stop_file=(\S+)$", script, re.M).group(1)
        _, _, params = _papermill_call(_argv(services[name]["command"]))
        assert params.get("stop_file") == stop_file, (
            f"{name}: -p stop_file must be {stop_file}, the file the wrapper creates on SIGTERM")
        grace = str(services[name].get("stop_grace_period", "10s"))
        assert int(grace.rstrip("s")) >= 40, f"{name}: allow a producer flush before docker kills the container"


def _run_wrapper(script: str, entry: list[str], child: str, stop_file: Path) -> subprocess.Popen:
    script = re.sub(r"^stop_file=\S+$", f"stop_file={shlex.quote(str(stop_file))}", script, flags=re.M)
    return subprocess.Popen([*entry[:2], script, entry[3], sys.executable, "-c", child, str(stop_file)])


def _wait_for(path: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_wrapper_turns_sigterm_into_a_clean_stop(services, tmp_path):
    """`docker compose stop` -> SIGTERM to the wrapper -> stop file -> child ends cleanly -> exit 0."""
    script, entry = _component_script(services["generator-trades"])
    stop_file, ready, clean = tmp_path / "stop", tmp_path / "ready", tmp_path / "clean"
    child = (
        "import pathlib, sys, time\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "stop, deadline = pathlib.Path(sys.argv[1]), time.monotonic() + 20\n"
        "while not stop.exists():\n"
        "    if time.monotonic() > deadline: sys.exit(9)  # never left behind if the wrapper is broken\n"
        "    time.sleep(0.05)\n"
        "time.sleep(0.5)  # a flush that takes a while: the wrapper must wait for it\n"
        f"pathlib.Path({str(clean)!r}).touch()\n"
    )
    proc = _run_wrapper(script, entry, child, stop_file)
    try:
        _wait_for(ready)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert clean.exists(), "the wrapper exited before its child finished"


@pytest.mark.timeout(60)
def test_wrapper_passes_on_the_child_exit_status(services, tmp_path):
    """A failed papermill run must fail the container, so `restart: on-failure` applies."""
    script, entry = _component_script(services["processor-market"])
    proc = _run_wrapper(script, entry, "import sys; sys.exit(3)", tmp_path / "stop")
    assert proc.wait(timeout=30) == 3
    assert not (tmp_path / "stop").exists()


def test_jupyter_always_has_a_token(services, monkeypatch):
    jupyter = services["jupyter"]
    assert "JUPYTER_TOKEN" in (jupyter.get("environment") or {}), "JUPYTER_TOKEN must be configurable"
    raw = str(jupyter["environment"]["JUPYTER_TOKEN"])
    assert raw.startswith("${JUPYTER_TOKEN"), "take the token from the user's JUPYTER_TOKEN"
    assert _interpolate(raw, {"JUPYTER_TOKEN": "s3cret"}) == "s3cret"
    # Unset -> empty -> jupyter_server generates a random token (it never treats '' as "no token").
    command = " ".join(_argv(jupyter.get("command"))) + " " + DOCKERFILE.read_text()
    for disabled in ("token=''", 'token=""', "token= ", "disable_check_xsrf", "password=''"):
        assert disabled not in command, f"JupyterLab auth must not be disabled ({disabled})"
    from jupyter_server.auth.identity import PasswordIdentityProvider  # ServerApp's default

    monkeypatch.setenv("JUPYTER_TOKEN", _interpolate(raw, {}))  # what the container gets when unset
    provider = PasswordIdentityProvider()
    assert provider.token and provider.token_generated, "an unset JUPYTER_TOKEN must give a generated token"


# -- Dockerfile ---------------------------------------------------------------------------

def test_dockerfile_pins_python_and_installs_the_package():
    text = DOCKERFILE.read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    base = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert len(base) == 1 and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base[0]), (
        f"base image must be a pinned python:3.11.x-slim tag, got {base}")
    assert "COPY pyproject.toml" in text and re.search(r"COPY lib\b", text), "copy the package sources"
    assert re.search(r"pip install[^\n]*\s\.(\s|$)", text), "install the package (pip install .)"
    assert re.search(r"COPY notebooks\b", text), "the notebooks must be in the image"
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    assert not re.search(r"\b(openjdk|default-jre|default-jdk|temurin)\b", text), "no Java in the lab image"
    workdir = [line.split()[1] for line in lines if line.upper().startswith("WORKDIR ")]
    assert workdir[-1] == "/lab", "compose paths (notebooks/, results/) are relative to /lab"


def test_dockerignore_keeps_local_state_out_of_the_build():
    entries = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    for needed in (".venv", ".cache", ".run", "results", ".git"):
        assert needed in entries, f".dockerignore must exclude {needed}"


def test_readme_documents_every_environment_variable():
    readme = (ROOT / "README.md").read_text()
    missing = [var for var in lab_config.ENV_VARS if f"`{var}`" not in readme]
    assert not missing, f"README.md's configuration table lacks {missing} (kafkalab.config.ENV_VARS)"


# -- the compose file as Docker Compose itself loads it ---------------------------------------
# `docker compose` is not installed here (the client says "unknown command"), but the loader
# it is built on, compose-spec/compose-go, is a Go module: a tiny program around it validates
# the file against the Compose schema and applies interpolation, `$$` escapes and YAML
# merges exactly as `docker compose config` does. Built once into .cache/ (needs `go` and the
# Go module proxy the first time; skipped without them).

COMPOSE_GO = "github.com/compose-spec/compose-go/v2"
COMPOSE_GO_VERSION = "v2.16.2"
COMPOSE_CHECK_GO = """package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

// usage: composecheck FILE WORKDIR -> the resolved project as YAML, or the error and exit 1
func main() {
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithOsEnv,
		cli.WithWorkingDirectory(os.Args[2]), cli.WithName("kafkalab"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
"""


@pytest.fixture(scope="module")
def compose_check() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain to build the compose-spec loader")
    work = ROOT / ".cache" / "compose-check" / COMPOSE_GO_VERSION
    binary = work / "composecheck"
    if binary.exists():
        return binary
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module composecheck\n\ngo 1.22\n")
    (work / "main.go").write_text(COMPOSE_CHECK_GO)
    # Fetching may fail without network (skip); building what was fetched must work (fail).
    for step in ([go, "get", f"{COMPOSE_GO}@{COMPOSE_GO_VERSION}"], [go, "mod", "tidy"]):
        done = subprocess.run(step, cwd=work, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"could not fetch the compose-spec loader ({' '.join(step[1:3])}): {done.stderr.strip()[-300:]}")
    done = subprocess.run([go, "build", "-o", binary.name, "."], cwd=work, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"building the compose-spec loader failed: {done.stderr.strip()[-500:]}"
    return binary


@pytest.mark.timeout(900)
def test_compose_spec_loader_accepts_the_file(compose_check, services):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}  # no JUPYTER_TOKEN etc. from this shell
    done = subprocess.run([str(compose_check), str(COMPOSE_FILE), str(ROOT)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, f"docker-compose.yml is not valid Compose: {done.stderr.strip()}"
    resolved = yaml.safe_load(done.stdout)["services"]
    assert set(resolved) == set(services)
    # What this module reads with PyYAML + _interpolate is what Docker Compose will run.
    for name in LAB_SERVICES:
        assert {k: str(v) for k, v in resolved[name]["environment"].items()} == _env(services[name]), name
        assert (resolved[name].get("command") or []) == _argv(services[name].get("command")), name
    for name in COMPONENTS:
        assert resolved[name]["entrypoint"][2] == _component_script(services[name])[0]
    assert resolved["jupyter"]["environment"]["JUPYTER_TOKEN"] == ""  # unset -> Jupyter generates one
    for name in BROKERS:
        assert _env(services[name]) == {k: str(v) for k, v in resolved[name]["environment"].items()}
        assert all(p["host_ip"] == "127.0.0.1" for p in resolved[name]["ports"])


# -- the docker client, when it can parse compose files -------------------------------------

def test_docker_compose_config_accepts_the_file():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    if version.returncode != 0:
        # The client here has no compose plugin ("unknown command: docker compose").
        pytest.skip(f"docker compose is not available: {version.stderr.strip() or version.stdout.strip()}")
    # `config` only parses and validates (no engine needed).
    result = subprocess.run([docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
