"""`kafkalab rabbitmq up | down | status | stop-node N [--kill] | start-node N`."""

from __future__ import annotations

from kafkalab import config as lab_config


def add_rabbitmq_commands(subparsers) -> None:
    rabbit = subparsers.add_parser("rabbitmq", help="the local 3-node RabbitMQ cluster")
    sub = rabbit.add_subparsers(dest="action", required=True)
    sub.add_parser("up", help="start the nodes, wait until all three are in the cluster, declare the topology")
    down = sub.add_parser("down", help="stop every node and the cluster's epmd")
    down.add_argument("--wipe", action="store_true", help="also delete data, logs and credentials")
    sub.add_parser("status", help="nodes, and every queue with type, leader, members, messages, consumers")
    declare = sub.add_parser("declare", help="declare exchanges, queues and bindings on the cluster the clients use")
    declare.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a node to answer")
    for name, text in (("stop-node", "stop one node"), ("start-node", "start a stopped node")):
        p = sub.add_parser(name, help=text)
        p.add_argument("node", type=int, help="node id (1..3)")
        if name == "stop-node":
            p.add_argument("--kill", action="store_true", help="kill -9 instead of an orderly shutdown")
    rabbit.set_defaults(func=run_rabbitmq_command)


def run_rabbitmq_command(args) -> int:
    from kafkalab.transports.rabbitmq.cluster import LocalRabbitCluster
    from kafkalab.transports.rabbitmq.settings import rabbit_config

    cluster = LocalRabbitCluster(rabbit_config(lab_config.load()))
    if args.action == "up":
        cluster.up()
        _declare(cluster)
    elif args.action == "down":
        cluster.down()
        if args.wipe:
            cluster.wipe()
    elif args.action == "stop-node":
        cluster.stop_node(args.node, kill=args.kill)
    elif args.action == "start-node":
        cluster.start_node(args.node)
    elif args.action == "status":
        print_status(cluster)
    elif args.action == "declare":
        declare_when_reachable(cluster.config, args.wait)
    return 0


def declare_when_reachable(config, wait_s: float) -> None:
    """Declare the topology, retrying until a node answers (the Docker path's one-shot job)."""
    import time

    from kafkalab.transports.rabbitmq.cluster import client_urls
    from kafkalab.transports.rabbitmq.errors import RabbitError
    from kafkalab.transports.rabbitmq.topology import declare_topology

    deadline = time.monotonic() + wait_s
    while True:
        try:
            declare_topology(client_urls(config))
            print("RabbitMQ topology declared")
            return
        except Exception as exc:  # noqa: BLE001 - pika raises many types while a node boots
            if time.monotonic() >= deadline:
                raise RabbitError(f"could not declare the topology within {wait_s:g} s "
                                  f"({type(exc).__name__}: {str(exc)[:200]})") from None
            time.sleep(2.0)


def _declare(cluster) -> None:
    from kafkalab.transports.rabbitmq.topology import declare_topology

    declare_topology(cluster.urls())


def print_status(cluster) -> None:
    members = cluster.cluster_members()
    for node in cluster.nodes():
        state = f"running (pid {node.pid})" if node.running else "stopped"
        joined = "  in cluster" if node.name in members else ""
        print(f"node {node.node_id}  {node.name}  127.0.0.1:{node.port}  {state}{joined}")
    running = [n.node_id for n in cluster.nodes() if n.running]
    if not running:
        return
    for q in cluster.management(running[0]).queues():
        members_text = ",".join(m.split("@")[0] for m in q.members)
        online = "" if set(q.online) >= set(q.members) or q.type != "quorum" else f"  ONLINE {len(q.online)}/{len(q.members)}"
        print(f"  {q.name:<28} {q.type:<7} leader {q.leader.split('@')[0]:<12} members {members_text}  "
              f"messages {_known(q.messages)} (unacked {_known(q.messages_unacked)})  consumers {q.consumers}{online}")


def _known(count: int | None) -> str:
    return "? (no statistics yet)" if count is None else str(count)


def main(argv: list[str] | None = None) -> int:
    """`python -m kafkalab.transports.rabbitmq.cli ACTION`: the same commands without the
    rest of the kafkalab CLI (tests and scripts)."""
    import argparse
    import sys

    from kafkalab.errors import LabError

    parser = argparse.ArgumentParser(prog="kafkalab-rabbitmq")
    add_rabbitmq_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["rabbitmq", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
