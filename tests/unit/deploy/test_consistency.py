"""The manifests say what the code and the compose file say: topics and their settings, the
Kafka version and broker settings, the image, the variables the package reads, the notebooks
and their parameters, the stop wrapper; and the properties the deployment promises (processor
bounded by the partitions, sinks on volumes, nothing exposed outside the cluster)."""

from __future__ import annotations

import importlib.util
import re
import tomllib

import pytest
import yaml

from kafkalab import config as lab_config
from kafkalab.deploy import kafka as kafka_manifests
from kafkalab.deploy import rabbitmq as rabbitmq_manifests
from kafkalab.deploy.sources import notebook_defaults
from kafkalab.transports.kafka.clients import CONSUMER_DEFAULTS
from kafkalab.transports.kafka.topics import TOPICS, TOPICS_BY_NAME
from .k8s_render import ROOT, container, find

# Variables our containers get that the package does not read, each with its reader.
NOT_PACKAGE_ENV = {"POD_NAME": "Kubernetes $(POD_NAME) in the processor's arguments",
                   "JUPYTER_TOKEN": "jupyter_server",
                   **{name: "Kubernetes $(VAR) expansion of the RabbitMQ URL" for name in rabbitmq_manifests.CREDENTIAL_ENV}}
COMPONENT_KINDS = ("generator", "processor", "sink")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


@pytest.fixture(scope="module")
def compose_components(compose) -> dict[str, dict]:
    return {name: s for name, s in compose.items() if list(s.get("command") or [])[:3] == ["python", "-m", "papermill"]}


def _components(documents: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] in ("Deployment", "StatefulSet")
            and d["metadata"]["labels"]["app.kubernetes.io/component"] in COMPONENT_KINDS}


def _parameters(args: list[str]) -> dict[str, str]:
    return {args[i + 1]: args[i + 2] for i, arg in enumerate(args) if arg in ("-r", "-p")}


# -- topics and the Kafka cluster ------------------------------------------------------------

def test_one_kafka_topic_per_topic_with_its_settings(rendered):
    topics = {d["spec"]["topicName"]: d for d in find(rendered["local"], "KafkaTopic")}
    assert sorted(topics) == sorted(spec.name for spec in TOPICS)
    for spec in TOPICS:
        topic = topics[spec.name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka_manifests.CLUSTER
        assert (topic["spec"]["partitions"], topic["spec"]["replicas"]) == (spec.partitions, spec.replication_factor)
        assert topic["spec"]["config"] == spec.all_configs()
        assert topic["spec"]["config"]["min.insync.replicas"] == "2"


def test_kafka_is_kraft_with_three_dual_role_nodes_and_the_compose_settings(rendered, compose):
    (cluster,) = find(rendered["local"], "Kafka")
    (pool,) = find(rendered["local"], "KafkaNodePool")
    assert cluster["spec"]["kafka"]["version"] == lab_config.KAFKA_VERSION
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster["metadata"]["name"]
    assert pool["spec"]["replicas"] == 3 and sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    config = cluster["spec"]["kafka"]["config"]
    broker_env = compose["broker-1"]["environment"]
    for setting, value in config.items():
        assert str(broker_env["KAFKA_" + setting.upper().replace(".", "_")]) == value
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == ("3", "2")
    assert config["auto.create.topics.enable"] == "false"
    heap = " ".join(f"{flag}{size}" for flag, size in pool["spec"]["jvmOptions"].items())
    assert heap == broker_env["KAFKA_HEAP_OPTS"]


def test_clients_and_the_autoscaler_reach_the_strimzi_bootstrap_service(rendered):
    (cluster,) = find(rendered["local"], "Kafka")
    (listener,) = cluster["spec"]["kafka"]["listeners"]
    (env,) = find(rendered["local"], "ConfigMap", "kafkalab-env")
    expected = f"{cluster['metadata']['name']}-kafka-bootstrap.kafkalab.svc:{listener['port']}"
    assert env["data"][lab_config.ENV_BOOTSTRAP] == expected
    (scaler,) = find(rendered["local"], "ScaledObject")
    assert {t["metadata"]["bootstrapServers"] for t in scaler["spec"]["triggers"]} == {expected}


# -- the processor: bounded by the partitions, stable identities -------------------------------

def test_processor_scales_on_its_groups_lag_up_to_the_partition_count(rendered):
    (processor,) = find(rendered["local"], "StatefulSet")
    (scaler,) = find(rendered["local"], "ScaledObject")
    assert scaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                                "name": processor["metadata"]["name"]}
    group = notebook_defaults(ROOT / container(processor)["args"][3]).get("group_id")
    if not group:  # the notebook leaves it to the Kafka transport's default
        group = pytest.importorskip("kafkalab.transports.kafka.components").DEFAULT_GROUPS["market-processor"]
    topics = {t["metadata"]["topic"] for t in scaler["spec"]["triggers"]}
    assert topics == set(kafka_manifests.PROCESSOR_INPUTS)
    assert {t["metadata"]["consumerGroup"] for t in scaler["spec"]["triggers"]} == {group}
    assert scaler["spec"]["maxReplicaCount"] == min(TOPICS_BY_NAME[t].partitions for t in topics)
    # a group with no committed offset yet: KEDA counts the lag from where the processor starts
    assert {t["metadata"]["offsetResetPolicy"] for t in scaler["spec"]["triggers"]} == {
        CONSUMER_DEFAULTS["auto.offset.reset"]}
    assert 1 <= scaler["spec"]["minReplicaCount"] <= scaler["spec"]["maxReplicaCount"]
    assert "replicas" not in processor["spec"], "an applied replica count would fight the autoscaler"


def test_each_processor_replica_has_its_own_stable_instance(rendered):
    for documents in rendered.values():
        (processor,) = find(documents, "StatefulSet")
        main = container(processor)
        assert _parameters(main["args"])["instance"] == "$(POD_NAME)"
        pod_name = next(e for e in main["env"] if e["name"] == "POD_NAME")
        assert pod_name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        (governing,) = find(documents, "Service", processor["spec"]["serviceName"])
        assert governing["spec"]["clusterIP"] == "None", "a StatefulSet's pod names come from a headless Service"
        (budget,) = find(documents, "PodDisruptionBudget")
        assert budget["spec"]["selector"] == processor["spec"]["selector"] and budget["spec"]["maxUnavailable"] == 1


# -- the components are the compose file's containers ------------------------------------------

def test_components_run_the_compose_image_command_and_stop_wrapper(rendered, compose_components):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for overlay, documents in rendered.items():
        workloads = _components(documents)
        assert set(workloads) == set(compose_components), overlay
        for name, workload in workloads.items():
            service, main = compose_components[name], container(workload)
            assert main["image"] == service["image"] == f"kafkalab-lab:{version}"
            script = service["entrypoint"][2].replace("$$", "$")
            assert main["command"][:2] == ["bash", "-c"] and main["command"][2].endswith(script)
            assert "$(" not in main["command"][2], "Kubernetes would expand $(...) in the wrapper"
            assert main["args"][:len(service["command"])] == [str(part) for part in service["command"]]
            grace = int(str(service["stop_grace_period"]).rstrip("s"))
            assert workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == grace
            ready = main["readinessProbe"]["exec"]["command"]
            assert ready == ["test", "-e", _parameters(main["args"])["stop_file"] + ".ready"]


def test_every_parameter_is_one_its_notebook_declares(rendered):
    lacking_transport = set()
    for overlay, documents in rendered.items():
        for name, workload in _components(documents).items():
            args = container(workload)["args"]
            notebook = ROOT / args[3]
            unknown = set(_parameters(args)) - set(notebook_defaults(notebook))
            if "transport" in unknown:
                lacking_transport.add(notebook.name)
                unknown.discard("transport")
            assert not unknown, f"{overlay}/{name}: {notebook.name} declares no parameter {sorted(unknown)}"
    if lacking_transport:
        pytest.skip(f"{sorted(lacking_transport)} have no `transport` parameter yet (the notebooks gain it with "
                    f"the transport setting); every other parameter was checked")


def test_every_variable_is_one_the_package_reads(rendered, compose_components):
    (env,) = find(rendered["local"], "ConfigMap", "kafkalab-env")
    for service in compose_components.values():  # the compose file's lab variables, its defaults
        assert set(env["data"]) == set(service["environment"])
        for name, value in service["environment"].items():
            if name != lab_config.ENV_BOOTSTRAP:
                assert env["data"][name] == re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value)), name
    for overlay, documents in rendered.items():
        for workload in find(documents, "Deployment") + find(documents, "StatefulSet"):
            for variable in container(workload).get("env", []):
                name = variable["name"]
                if name == rabbitmq_manifests.ENV_URL:
                    continue  # the RabbitMQ transport's own setting: test_rabbitmq_url_is_the_one_the_transport_reads
                assert name in lab_config.ENV_VARS or name in NOT_PACKAGE_ENV, f"{overlay}: {name} is read by nobody"
    assert set(env["data"]) <= set(lab_config.ENV_VARS)


def test_kubernetes_references_only_variables_defined_before_them(rendered):
    """$(NAME) in args or env values expands only names defined earlier in the container."""
    for documents in rendered.values():
        for workload in find(documents, "Deployment") + find(documents, "StatefulSet"):
            main = container(workload)
            defined = []
            for variable in main.get("env", []):
                for used in re.findall(r"\$\(([A-Z_]+)\)", variable.get("value", "")):
                    assert used in defined, f"{workload['metadata']['name']}: {variable['name']} uses {used} too early"
                defined.append(variable["name"])
            for used in re.findall(r"\$\(([A-Z_]+)\)", " ".join(main.get("args", []))):
                assert used in defined


# -- storage and exposure -------------------------------------------------------------------

def test_sinks_write_to_their_own_persistent_volume(rendered):
    documents = rendered["local"]
    claims = {d["metadata"]["name"] for d in find(documents, "PersistentVolumeClaim")}
    for name, workload in _components(documents).items():
        volumes = workload["spec"]["template"]["spec"]["volumes"]
        mounted = {m["name"]: m["mountPath"] for m in container(workload)["volumeMounts"]}
        results = next(v for v in volumes if mounted.get(v["name"]) == "/lab/results")
        if workload["metadata"]["labels"]["app.kubernetes.io/component"] == "sink":
            assert results["persistentVolumeClaim"]["claimName"] in claims, name
            assert workload["spec"]["strategy"]["type"] == "Recreate", f"{name}: one writer per volume at a time"
        else:
            assert "persistentVolumeClaim" not in results


def test_nothing_is_exposed_outside_the_cluster(rendered):
    for overlay, documents in rendered.items():
        assert not find(documents, "Ingress")
        for service in find(documents, "Service"):
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", f"{overlay}: {service['metadata']['name']}"
        for workload in find(documents, "Deployment") + find(documents, "StatefulSet"):
            pod = workload["spec"]["template"]["spec"]
            assert not pod.get("hostNetwork")
            assert all("hostPort" not in port for port in container(workload).get("ports", []))
            assert pod["securityContext"]["runAsNonRoot"] is True
        (jupyter,) = find(documents, "Service", "jupyter")
        assert [p["port"] for p in jupyter["spec"]["ports"]] == [8888]


# -- the RabbitMQ path ------------------------------------------------------------------------

def test_rabbitmq_path_runs_the_same_components_over_a_three_node_cluster(rendered):
    documents = rendered["rabbitmq"]
    (cluster,) = find(documents, "RabbitmqCluster")
    assert cluster["spec"]["replicas"] == 3
    assert not find(documents, "Kafka") and not find(documents, "ScaledObject")
    for name, workload in _components(documents).items():
        main = container(workload)
        assert _parameters(main["args"])["transport"] == "rabbitmq", name
        secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in main["env"] if "secretKeyRef" in e.get("valueFrom", {})}
        assert secrets == {f"{cluster['metadata']['name']}-default-user"}
        url = next(e["value"] for e in main["env"] if e["name"] == rabbitmq_manifests.ENV_URL)
        assert url.startswith("amqp://") and f"@{cluster['metadata']['name']}.kafkalab.svc:5672/" in url
    (jupyter,) = find(documents, "Deployment", "jupyter")
    assert rabbitmq_manifests.ENV_URL in {e["name"] for e in container(jupyter)["env"]}
    (env,) = find(documents, "ConfigMap", "kafkalab-env")
    assert lab_config.parse_transport(env["data"][lab_config.ENV_TRANSPORT]) == "rabbitmq"
    (local_env,) = find(rendered["local"], "ConfigMap", "kafkalab-env")
    assert local_env["data"].get(lab_config.ENV_TRANSPORT, "kafka") == "kafka"
    for name, workload in _components(rendered["local"]).items():
        assert "transport" not in _parameters(container(workload)["args"]), f"{name}: Kafka is the default"


def test_rabbitmq_url_is_the_one_the_transport_reads():
    if importlib.util.find_spec("kafkalab.transports.rabbitmq") is None:
        pytest.skip("the RabbitMQ transport is not installed; its URL variable is checked once it is")
    settings = importlib.import_module("kafkalab.transports.rabbitmq.settings")
    assert rabbitmq_manifests.ENV_URL == settings.ENV_URL
    assert settings.parse_urls(rabbitmq_manifests.broker_env()[-1]["value"].replace("$(", "").replace(")", ""))


def test_rabbitmq_topology_is_declared_as_the_compose_override_declares_it(rendered, compose_components):
    (job,) = find(rendered["rabbitmq"], "Job", rabbitmq_manifests.TOPOLOGY_JOB)
    main = container(job)
    assert main["image"] == next(iter(compose_components.values()))["image"]
    assert rabbitmq_manifests.ENV_URL in {e["name"] for e in main["env"]}
    override = ROOT / "docker-compose.rabbitmq.yml"
    if not override.exists():
        pytest.skip("no docker-compose.rabbitmq.yml to compare the topology command with")
    service = yaml.safe_load(override.read_text())["services"][rabbitmq_manifests.TOPOLOGY_JOB]
    assert main["command"] == [str(part) for part in service["command"]]
    assert rabbitmq_manifests.ENV_URL in service["environment"]
