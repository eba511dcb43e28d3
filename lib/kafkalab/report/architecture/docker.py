"""The Docker setup, read from docker-compose.yml."""

from __future__ import annotations

from pathlib import Path

from kafkalab.report.markdown import code, md_table


def load_compose(project_root: Path) -> dict | None:
    import yaml

    path = project_root / "docker-compose.yml"
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text())


def _role(name: str, service: dict) -> str:
    image = str(service.get("image", ""))
    command = " ".join(map(str, service.get("command") or []))
    if "papermill" in command:
        notebook = next((w for w in command.split() if w.startswith("notebooks/")), "?")
        return f"component: runs `{notebook}` with papermill"
    if image.startswith("apache/kafka"):
        env = service.get("environment") or {}
        return f"Kafka node {env.get('KAFKA_NODE_ID', '?')} ({env.get('KAFKA_PROCESS_ROLES', '?')})"
    if command:
        return f"runs `{command}`"
    if "kafdrop" in image:
        return "Kafdrop web UI"
    if "jupyter" in name:
        return "JupyterLab"
    return ""


def compose_services_table(compose: dict) -> str:
    rows = []
    for name, service in (compose.get("services") or {}).items():
        image = service.get("image") or "(built)"
        if service.get("build"):
            build = service["build"]
            image = f"{image} (built from {build.get('dockerfile', 'Dockerfile') if isinstance(build, dict) else build})"
        ports = ", ".join(map(str, service.get("ports") or [])) or "–"
        depends = service.get("depends_on") or {}
        depends = ", ".join(depends if isinstance(depends, list) else depends.keys()) or "–"
        rows.append([f"**{name}**", _role(name, service), code(image), ports, depends])
    return md_table(["service", "role", "image", "host ports", "depends on"], rows)


def compose_environment(compose: dict) -> dict[str, str]:
    """The environment the component containers get (the first papermill service's)."""
    for service in (compose.get("services") or {}).values():
        if "papermill" in " ".join(map(str, service.get("command") or [])):
            return {k: str(v) for k, v in (service.get("environment") or {}).items()}
    return {}
