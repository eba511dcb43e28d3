"""The management plugin's HTTP API on 127.0.0.1: node membership and queue state for
`status` and for waiting until the cluster has formed (cheaper than a rabbitmqctl call,
which boots an Erlang VM each time)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote

from kafkalab.transports.rabbitmq.errors import RabbitError


@dataclass(frozen=True)
class QueueView:
    name: str
    type: str
    leader: str
    members: tuple[str, ...]
    online: tuple[str, ...]
    # None until the queue's first statistics tick has reached the management plugin (about 5-10 s
    # after a quorum queue is declared): "not known yet" must never read as an empty queue.
    messages: int | None
    messages_unacked: int | None
    consumers: int


class Management:
    def __init__(self, port: int, user: str, password: str, timeout_s: float = 3.0) -> None:
        self.base = f"http://127.0.0.1:{port}/api"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.timeout_s = timeout_s

    def get(self, path: str):
        request = urllib.request.Request(self.base + path, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise RabbitError(f"management API {path} answered HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise RabbitError(f"management API on {self.base} does not answer ({exc})") from exc

    def running_nodes(self) -> set[str]:
        return {node["name"] for node in self.get("/nodes") if node.get("running")}

    def queues(self, vhost: str = "/") -> list[QueueView]:
        views = [queue_view(q) for q in self.get(f"/queues/{quote(vhost, safe='')}")]
        return sorted(views, key=lambda v: v.name)


def queue_view(q: dict) -> QueueView:
    """One queue of GET /api/queues/<vhost>."""
    return QueueView(
        name=q["name"], type=q.get("type", "classic"), leader=q.get("leader") or q.get("node", ""),
        members=tuple(q.get("members") or [q.get("node", "")]), online=tuple(q.get("online") or []),
        messages=_count(q.get("messages")), messages_unacked=_count(q.get("messages_unacknowledged")),
        consumers=int(q.get("consumers") or 0))


def _count(value) -> int | None:
    return None if value is None else int(value)
