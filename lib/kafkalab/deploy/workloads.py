"""The lab's own workloads: one per component running its notebook, JupyterLab, storage.

Each component is the compose file's container, unchanged: the lab image, the same bash
stop wrapper as entrypoint (Kubernetes sends SIGTERM to it exactly like `docker compose
stop`; it creates the notebook's stop file and the loop ends cleanly: producer flushed,
transaction committed or aborted, CSV synced), the same papermill command and parameters.
"""

from __future__ import annotations

from kafkalab.deploy.sources import ComposeComponent, LabDeclarations

PART_OF = "kafkalab"
NAMESPACE = "kafkalab"  # every overlay deploys into it; operators elsewhere reach services by full name
LAB_ENV = "kafkalab-env"  # the ConfigMap with the variables the package reads
JUPYTER = "jupyter"
JUPYTER_PORT = 8888
JUPYTER_TOKEN_SECRET = "jupyter-token"  # optional: without it JupyterLab generates a token and logs it
RESULTS_MOUNT = "/lab/results"
LAB_UID = 1000  # the image's user (jupyter/Dockerfile)
# The wrapper runs from the image's WORKDIR; a fresh volume on results/ lacks the folders papermill writes to.
PREPARE_RESULTS = "mkdir -p results/runs results/data\n"
# Requests from the lab's defaults (10 trades/s, 4 books/s); no CPU limits, since throttling a
# Python loop shows up as latency. Starting values: not measured on a cluster.
RESOURCES = {
    "generator": {"requests": {"cpu": "100m", "memory": "192Mi"}, "limits": {"memory": "512Mi"}},
    "processor": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "768Mi"}},
    "sink": {"requests": {"cpu": "100m", "memory": "192Mi"}, "limits": {"memory": "512Mi"}},
    JUPYTER: {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
}
RESULTS_STORAGE = "1Gi"


def role(component: ComposeComponent) -> str:
    """generator | processor | sink, from the compose service name (generator-trades, ...)."""
    return component.service.split("-", 1)[0]


def labels(name: str, kind: str) -> dict:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": kind, "app.kubernetes.io/part-of": PART_OF}


def selector(name: str) -> dict:
    return {"matchLabels": {"app.kubernetes.io/name": name}}


def results_claim(component: ComposeComponent) -> str:
    return f"results-{component.service}"


def lab_env_configmap(decl: LabDeclarations, overrides: dict[str, str]) -> dict:
    data = {name: overrides.get(name, value) for name, value in decl.env}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": LAB_ENV, "labels": labels(LAB_ENV, "config")},
            "data": data}


def results_claims(decl: LabDeclarations) -> list[dict]:
    """A volume per sink: each sink is the single writer of its CSV files (ReadWriteOnce is enough)."""
    return [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": results_claim(c), "labels": labels(c.service, "sink")},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": RESULTS_STORAGE}}}}
            for c in decl.components if role(c) == "sink"]


def pod_security() -> dict:
    return {"runAsUser": LAB_UID, "runAsGroup": LAB_UID, "fsGroup": LAB_UID, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}


def container_security() -> dict:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def component_args(component: ComposeComponent) -> list[str]:
    """The compose command; the processor's `instance` is the pod's stable StatefulSet name."""
    args = ["python", "-m", "papermill", component.notebook, component.output,
            "-k", "python3", "--log-output", "--no-progress-bar"]
    for name, value in component.raw_parameters:
        args += ["-r", name, value]
    if role(component) == "processor":
        args += ["-r", "instance", "$(POD_NAME)"]
    return args


def _component_container(decl: LabDeclarations, component: ComposeComponent) -> dict:
    kind = role(component)
    ready_file = component.parameters["stop_file"] + ".ready"
    return {
        "name": component.service,
        "image": decl.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["bash", "-c", PREPARE_RESULTS + decl.stop_wrapper, "run-component"],
        "args": component_args(component),
        "envFrom": [{"configMapRef": {"name": LAB_ENV}}],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "resources": RESOURCES[kind],
        # Ready once the loop's setup is done (the loop writes <stop_file>.ready). No liveness
        # probe: a loop that fails ends papermill, the wrapper exits with its status and the
        # kubelet restarts the container; there is no heartbeat yet that would reveal a hang.
        "readinessProbe": {"exec": {"command": ["test", "-e", ready_file]}, "periodSeconds": 10,
                           "failureThreshold": 3},
        "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT}],
        "securityContext": container_security(),
    }


def _pod_template(decl: LabDeclarations, component: ComposeComponent) -> dict:
    if role(component) == "sink":
        volume = {"name": "results", "persistentVolumeClaim": {"claimName": results_claim(component)}}
    else:  # only the executed notebook lands here
        volume = {"name": "results", "emptyDir": {}}
    return {"metadata": {"labels": labels(component.service, role(component))},
            "spec": {"terminationGracePeriodSeconds": component.stop_grace_s,
                     "securityContext": pod_security(),
                     "containers": [_component_container(decl, component)],
                     "volumes": [volume]}}


def component_workload(decl: LabDeclarations, component: ComposeComponent) -> dict:
    kind = role(component)
    meta = {"name": component.service, "labels": labels(component.service, kind)}
    template = _pod_template(decl, component)
    if kind == "processor":
        # A StatefulSet, not a Deployment: pod names processor-market-0, -1, ... are stable, so
        # each replica's transactional.id and static group member id survive a restart and the
        # new pod fences its predecessor at once. replicas is left to the ScaledObject (an
        # applied `replicas` would fight the autoscaler); without one it is 1.
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
                "spec": {"serviceName": component.service, "podManagementPolicy": "Parallel",
                         "updateStrategy": {"type": "RollingUpdate"},
                         "selector": selector(component.service), "template": template}}
    # Recreate: the old pod is gone before the new one starts (a sink's volume and CSV lock
    # have one writer; a generator's second copy would double the rate).
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                     "selector": selector(component.service), "template": template}}


def headless_service(component: ComposeComponent) -> dict:
    """The StatefulSet's governing Service (stable pod DNS names); the processor serves nothing."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": component.service, "labels": labels(component.service, role(component))},
            "spec": {"clusterIP": "None", "selector": {"app.kubernetes.io/name": component.service}}}


def disruption_budget(component: ComposeComponent) -> dict:
    """A node drain evicts at most one processor at a time: one rebalance, one fenced transaction.
    A pod that is not ready (e.g. waiting for brokers) may always be evicted: it holds no work,
    and counting it would block every drain."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": component.service, "labels": labels(component.service, role(component))},
            "spec": {"maxUnavailable": 1, "selector": selector(component.service),
                     "unhealthyPodEvictionPolicy": "AlwaysAllow"}}


def jupyter(decl: LabDeclarations) -> list[dict]:
    """JupyterLab with the image's own command, reachable only inside the cluster (ClusterIP)."""
    token = {"name": "JUPYTER_TOKEN", "valueFrom": {"secretKeyRef": {"name": JUPYTER_TOKEN_SECRET, "key": "token",
                                                                     "optional": True}}}
    probe = {"httpGet": {"path": "/api", "port": JUPYTER_PORT}, "periodSeconds": 15}
    container = {"name": JUPYTER, "image": decl.image, "imagePullPolicy": "IfNotPresent",
                 "ports": [{"name": "http", "containerPort": JUPYTER_PORT}],
                 "envFrom": [{"configMapRef": {"name": LAB_ENV}}], "env": [token],
                 "resources": RESOURCES[JUPYTER],
                 "readinessProbe": probe, "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 4},
                 "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT}],
                 "securityContext": container_security()}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": JUPYTER, "labels": labels(JUPYTER, JUPYTER)},
                  "spec": {"replicas": 1, "selector": selector(JUPYTER),
                           "template": {"metadata": {"labels": labels(JUPYTER, JUPYTER)},
                                        "spec": {"securityContext": pod_security(), "containers": [container],
                                                 "volumes": [{"name": "results", "emptyDir": {}}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": JUPYTER, "labels": labels(JUPYTER, JUPYTER)},
               "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": JUPYTER},
                        "ports": [{"name": "http", "port": JUPYTER_PORT, "targetPort": "http"}]}}
    return [deployment, service]
