"""The RabbitMQ path on Kubernetes: the cluster operator's RabbitmqCluster, three nodes.

The components are the same workloads and notebooks as on the Kafka path; the overlay only
adds the papermill parameter `transport=rabbitmq` and the broker's address with the
credentials the operator generates (Secret `<cluster>-default-user`, never guest).
"""

from __future__ import annotations

from kafkalab.deploy.workloads import LAB_ENV, NAMESPACE, container_security, labels, pod_security

CLUSTER = "kafkalab-rabbitmq"
REPLICAS = 3
AMQP_PORT = 5672
CREDENTIALS_SECRET = f"{CLUSTER}-default-user"  # written by the operator: username, password, host, port
ENV_URL = "KAFKALAB_RABBITMQ_URL"
# Read by Kubernetes only, to build the URL with $(VAR) expansion; the package never sees them apart.
CREDENTIAL_ENV = ("RABBITMQ_USERNAME", "RABBITMQ_PASSWORD")
TRANSPORT = "rabbitmq"
TOPOLOGY_JOB = "rabbitmq-topology"
# Exchanges, quorum queues and dead letters, declared once before the components need them
# (the compose override's rabbitmq-topology service runs the same command).
TOPOLOGY_COMMAND = ["python", "-m", "kafkalab.transports.rabbitmq.cli", "declare", "--wait", "120"]


def rabbitmq_cluster() -> dict:
    return {
        "apiVersion": "rabbitmq.com/v1beta1", "kind": "RabbitmqCluster",
        "metadata": {"name": CLUSTER, "labels": labels(CLUSTER, "rabbitmq")},
        "spec": {
            "replicas": REPLICAS,
            "persistence": {"storage": "10Gi"},
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
            # A node cut off from the majority pauses instead of accepting writes it may lose;
            # quorum queues (declared by the application) keep a copy on every node.
            "rabbitmq": {"additionalConfig": "cluster_partition_handling = pause_minority\n"},
        },
    }


def broker_env() -> list[dict]:
    secret = [{"name": env, "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": key}}}
              for env, key in zip(CREDENTIAL_ENV, ("username", "password"))]
    url = f"amqp://$({CREDENTIAL_ENV[0]}):$({CREDENTIAL_ENV[1]})@{CLUSTER}.{NAMESPACE}.svc:{AMQP_PORT}/%2F"
    return [*secret, {"name": ENV_URL, "value": url}]


CONTAINER = "/spec/template/spec/containers/0"


def broker_env_patch() -> list[dict]:
    """JSON patch giving a workload the broker's address (JupyterLab's kernels need it too)."""
    return [{"op": "add", "path": f"{CONTAINER}/env/-", "value": env} for env in broker_env()]


def transport_patch() -> list[dict]:
    """JSON patch for every component workload: the same notebook over RabbitMQ."""
    args = [{"op": "add", "path": f"{CONTAINER}/args/-", "value": value} for value in ("-r", "transport", TRANSPORT)]
    return args + broker_env_patch()


def topology_job(image: str) -> dict:
    """Runs until the topology is declared: retried while the cluster is still forming."""
    main = {"name": TOPOLOGY_JOB, "image": image, "imagePullPolicy": "IfNotPresent", "command": TOPOLOGY_COMMAND,
            "envFrom": [{"configMapRef": {"name": LAB_ENV}}], "env": broker_env(),
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "securityContext": container_security()}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": TOPOLOGY_JOB, "labels": labels(TOPOLOGY_JOB, "setup")},
            "spec": {"backoffLimit": 10, "template": {
                "metadata": {"labels": labels(TOPOLOGY_JOB, "setup")},
                "spec": {"restartPolicy": "OnFailure", "securityContext": pod_security(), "containers": [main]}}}}
