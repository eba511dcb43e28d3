"""Every rendered document validated offline: built-in kinds against Kubernetes' own OpenAPI
schemas (kubernetes-validate, strict: an unknown field fails), the operators' custom
resources against the small schemas the project keeps in k8s/schemas/ for the fields it uses."""

from __future__ import annotations

import copy
import json

import jsonschema
import kubernetes_validate
import pytest

from .k8s_render import K8S, OVERLAYS, container, find

# The oldest release k8s/README.md names and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")
CUSTOM_SCHEMAS = {
    ("kafka.strimzi.io/v1beta2", "Kafka"): "strimzi-kafka",
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): "strimzi-kafkanodepool",
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "strimzi-kafkatopic",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject",
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmq-rabbitmqcluster",
}


def _custom_schema(document: dict) -> dict | None:
    name = CUSTOM_SCHEMAS.get((document["apiVersion"], document["kind"]))
    return None if name is None else json.loads((K8S / "schemas" / f"{name}.schema.json").read_text())


def _validate(document: dict, version: str = KUBERNETES_VERSIONS[-1]) -> None:
    schema = _custom_schema(document)
    if schema is not None:
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    else:
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_document_is_valid(rendered, overlay, version):
    problems = []
    for document in rendered[overlay]:
        try:
            _validate(document, version)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{document['kind']} {document['metadata']['name']}: no schema (a custom kind "
                            f"needs one in k8s/schemas/ and CUSTOM_SCHEMAS)")
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as err:
            problems.append(f"{document['kind']} {document['metadata']['name']}: {err.message}")
    assert not problems, problems


def test_every_overlay_deploys_into_the_lab_namespace(rendered):
    for overlay, documents in rendered.items():
        assert find(documents, "Namespace") and {d["metadata"]["name"] for d in find(documents, "Namespace")} == {"kafkalab"}
        outside = [d["metadata"]["name"] for d in documents if d["kind"] != "Namespace"
                   and d["metadata"].get("namespace") != "kafkalab"]
        assert not outside, f"{overlay}: {outside} not in namespace kafkalab"


def test_the_schemas_are_themselves_valid():
    for name in CUSTOM_SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(json.loads((K8S / "schemas" / f"{name}.schema.json").read_text()))


# -- the validators bite: each mistake below is one a cluster would refuse -------------------

def _broken(rendered, kind: str, breaks) -> dict:
    document = copy.deepcopy(find(rendered["local"] + rendered["rabbitmq"], kind)[0])
    breaks(document)
    return document


MISTAKES = {
    "a misspelt container field": ("Deployment", lambda d: container(d).update(imagePullPolcy="Always")),
    "replicas as a string": ("Deployment", lambda d: d["spec"].update(replicas="1")),
    "a PDB selector written as a string": ("PodDisruptionBudget", lambda d: d["spec"].update(selector="app=x")),
    "a Strimzi-managed broker option": ("Kafka", lambda d: d["spec"]["kafka"]["config"].update(
        {"advertised.listeners": "PLAIN://x:9092"})),
    "Kafka without the KRaft annotation": ("Kafka", lambda d: d["metadata"]["annotations"].pop("strimzi.io/kraft")),
    "a node pool role Kafka lacks": ("KafkaNodePool", lambda d: d["spec"].update(roles=["broker", "zookeeper"])),
    "a topic without its cluster label": ("KafkaTopic", lambda d: d["metadata"]["labels"].pop("strimzi.io/cluster")),
    "a number in KEDA's string metadata": ("ScaledObject", lambda d: d["spec"]["triggers"][0]["metadata"].update(
        lagThreshold=2000)),
    "RabbitMQ replicas as a string": ("RabbitmqCluster", lambda d: d["spec"].update(replicas="3")),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_broken_document_is_refused(rendered, mistake):
    kind, breaks = MISTAKES[mistake]
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
        _validate(_broken(rendered, kind, breaks))
