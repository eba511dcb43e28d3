"""Bonus 3: the lab on Kubernetes. The deployment diagram is drawn from the generated k8s/
manifests, and the prose is k8s/README.md's own, so the report and the manifests cannot drift apart."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from kafkalab.config import LabConfig
from kafkalab.report.display import show_diagram, show_heading, show_markdown
from kafkalab.report.markdown import code, md_table

HEADING = "Bonus 3: orchestration with Kubernetes, and what cloud offers would replace"
README = Path("k8s") / "README.md"
# k8s/README.md sections shown here, in this order (the intro, before its first "##", comes first).
README_SECTIONS = ("What orchestration adds, what it costs, what a cloud could replace",)
DIAGRAM_ALT = ("Deployment diagram, left to right: the Strimzi Kafka cluster with one cylinder per KafkaTopic, "
               "one box per workload with its kind and replica count, the sinks' volumes, KEDA scaling the processor")


def show(config: LabConfig) -> None:
    show_heading(2, HEADING)
    root = config.project_root
    readme = (root / README).read_text() if (root / README).exists() else ""
    if not readme:
        show_markdown(f"`{README}` is not in this checkout: the Kubernetes manifests are missing.")
        return
    show_markdown(readme_intro(readme))
    show_markdown(generated_files_table(root))
    show_deployment_diagram(root)
    for title in README_SECTIONS:
        show_heading(3, title)
        show_markdown(readme_section(readme, title))


def readme_intro(text: str) -> str:
    """What comes before the first "##" heading, without the title line."""
    head = re.split(r"^## ", text, maxsplit=1, flags=re.M)[0]
    return "\n".join(line for line in head.splitlines() if not line.startswith("# ")).strip()


def readme_section(text: str, title: str) -> str:
    """The body of the "## <title>" section; KeyError names a heading the README lacks."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:
        raise KeyError(f"k8s/README.md has no section {title!r}")
    return match.group(1).strip()


def generated_files_table(root: Path) -> str:
    """How many manifests each folder of k8s/ holds, as `kafkalab k8s generate` writes them."""
    from kafkalab.deploy import manifests

    folders = Counter(str(Path(path).parent) for path in manifests.generate(root))
    rows = [[code(folder + "/"), str(count)] for folder, count in sorted(folders.items())]
    return ("Generated files, by folder (`kafkalab k8s generate`; `--check` and `tests/unit/deploy/` fail when "
            "the committed ones differ):\n\n" + md_table(["folder", "files"], rows))


def show_deployment_diagram(root: Path) -> None:
    from kafkalab.deploy.diagram import deployment_dot

    show_diagram(deployment_dot(root), DIAGRAM_ALT,
                 "Deployment diagram of `kubectl apply -k k8s/overlays/local`, drawn from the generated manifests: "
                 "cylinders are the Strimzi `KafkaTopic`s, boxes the workloads with their kind and replicas (the "
                 "processor's range is KEDA's, bounded by the partition count), folders the sinks' volumes; dashed "
                 "edges are dead letters, dotted ones what the operators manage.")
