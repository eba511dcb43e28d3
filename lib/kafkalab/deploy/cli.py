"""`kafkalab k8s generate [--check]`: write k8s/ from the code's declarations, or check it is current."""

from __future__ import annotations

from kafkalab import config as lab_config
from kafkalab.deploy import manifests
from kafkalab.errors import LabError


class ManifestsOutOfDate(LabError):
    """The committed k8s/ files differ from what the code generates."""


def _generate(args) -> int:
    root = lab_config.load().project_root
    if args.check:
        stale = manifests.differences(root)
        if stale:
            raise ManifestsOutOfDate(f"k8s/ is out of date ({'; '.join(stale)}): run `kafkalab k8s generate`")
        print("k8s/ is up to date")
        return 0
    changed = manifests.write(root)
    print("\n".join(f"wrote {path}" for path in changed) if changed else "k8s/ is up to date")
    return 0


def add_k8s_commands(subparsers) -> None:
    k8s = subparsers.add_parser("k8s", help="the Kubernetes manifests under k8s/ (generated, checked offline)")
    actions = k8s.add_subparsers(dest="k8s_action", required=True)
    generate = actions.add_parser("generate", help="write k8s/ from the topics, settings and docker-compose.yml")
    generate.add_argument("--check", action="store_true", help="write nothing; fail when k8s/ differs")
    generate.set_defaults(func=_generate)
