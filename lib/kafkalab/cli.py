"""The `kafkalab` command: cluster management, topics, the pipeline, benchmarks, report.

Every failure that the lab understands ends as one line `error: ...` and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys

from kafkalab import config as lab_config
from kafkalab.commands import COMMAND_HELP
from kafkalab.errors import LabError


def _cluster(args) -> int:
    from kafkalab.transports.kafka.clients import describe_metadata
    from kafkalab.transports.kafka.cluster import LocalCluster

    cfg = lab_config.load()
    cluster = LocalCluster(cfg.cluster)
    if args.action == "up":
        cluster.up()
    elif args.action == "down":
        cluster.down()
        if args.wipe:
            cluster.wipe()
    elif args.action == "stop-broker":
        cluster.stop_broker(args.node, kill=args.kill)
        print(f"node {args.node} {'killed' if args.kill else 'stopped'}")
    elif args.action == "start-broker":
        cluster.start_broker(args.node)
        print(f"node {args.node} started; `kafkalab cluster status` shows its ISR filling up")
    elif args.action == "status":
        down = _print_nodes(cluster)
        view, partitions = describe_metadata(cfg.bootstrap_servers)
        _print_status(down, view, partitions, cluster.active_controller())
    return 0


def _print_nodes(cluster) -> set[int]:
    """The local nodes as the process table has them (printed before Kafka is asked: when the
    cluster cannot answer, this is what a user needs to see); returns the ids of those down."""
    down: set[int] = set()
    for node in cluster.nodes():
        state = f"running (pid {node.pid})" if node.running else "stopped"
        if not node.running:
            down.add(node.node_id)
        print(f"node {node.node_id}  127.0.0.1:{node.port}  {state}", flush=True)
    return down


def _print_status(down: set[int], view, partitions, controller: int | None) -> None:
    """Brokers and partitions; a node whose process is gone is shown down at once.

    Kafka's metadata keeps a killed broker as alive, leader and in-sync until its session times out
    (about 10 s here), so the local process table is believed first.
    """
    brokers = [b for b in view.broker_ids if b not in down]
    print(f"cluster {view.cluster_id}: brokers {brokers}, KRaft controller {controller if controller else '?'}"
          + (f" (node {controller} is down: a new controller is being elected)" if controller in down else ""))
    for p in partitions:
        isr = [r for r in p.isr if r not in down]
        leader = f"{p.leader:>2}" + (" (down: election pending)" if p.leader in down else "")
        flag = "" if set(isr) == set(p.replicas) else "  UNDER-REPLICATED"
        print(f"  {p.topic:<14} p{p.partition}  leader {leader}  replicas {list(p.replicas)}  isr {isr}{flag}")


def _topics(args) -> int:
    from kafkalab.transports.kafka.clients import describe_partitions, ensure_topics, require_reachable
    from kafkalab.transports.kafka.topics import TOPICS

    cfg = lab_config.load(bootstrap_servers=args.bootstrap_servers)
    require_reachable(cfg.bootstrap_servers, timeout_s=args.wait)
    if args.action == "create":
        created = ensure_topics(cfg.bootstrap_servers, TOPICS)
        print(f"created {created}" if created else "all topics exist")
    counts: dict[str, int] = {}
    for p in describe_partitions(cfg.bootstrap_servers):
        counts[p.topic] = counts.get(p.topic, 0) + 1
    for name, n in counts.items():
        print(f"{name}: {n} partition{'s' if n != 1 else ''}")
    return 0


def _run(args) -> int:
    from kafkalab.pipeline.runner import run_pipeline

    cfg = lab_config.load(serializer=args.serializer, transport=args.transport)
    return run_pipeline(cfg, seconds=args.seconds, trade_rate_hz=args.trade_rate, processor=args.processor)


def _bench(args) -> int:
    from kafkalab.bench import run_experiment

    options = {}
    if args.scenario is not None:
        if args.experiment != "reliability":
            raise LabError(f"--scenario belongs to `kafkalab bench reliability`, not to `{args.experiment}`")
        from kafkalab.bench.reliability.scenarios import select

        options["scenarios"] = ",".join(select(args.scenario))  # an unknown name: one line, nothing started
    cfg = lab_config.load()
    return run_experiment(cfg, args.experiment, quick=args.quick, options=options)


def _report(args) -> int:
    from kafkalab.report.render import render_report

    render_report(lab_config.load())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafkalab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    cluster = sub.add_parser("cluster", help=COMMAND_HELP["cluster"])
    csub = cluster.add_subparsers(dest="action", required=True)
    csub.add_parser("up", help="fetch Kafka if needed, start the nodes, create the topics")
    down = csub.add_parser("down", help="stop every node")
    down.add_argument("--wipe", action="store_true", help="also delete the cluster's data and logs")
    csub.add_parser("status", help="nodes, brokers, controller, partitions with leaders and ISR")
    for name, text in (("stop-broker", "stop one node"), ("start-broker", "start a stopped node")):
        p = csub.add_parser(name, help=text)
        p.add_argument("node", type=int, help="node id (1..3)")
        if name == "stop-broker":
            p.add_argument("--kill", action="store_true", help="kill -9 instead of a controlled shutdown")
    cluster.set_defaults(func=_cluster)

    from kafkalab.transports.rabbitmq.cli import add_rabbitmq_commands

    add_rabbitmq_commands(sub)

    topics = sub.add_parser("topics", help=COMMAND_HELP["topics"])
    topics.add_argument("action", choices=["create", "list"])
    topics.add_argument("--bootstrap-servers", default=None)
    topics.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the cluster to answer")
    topics.set_defaults(func=_topics)

    run = sub.add_parser("run", help=COMMAND_HELP["run"])
    run.add_argument("--seconds", type=float, default=60.0,
                     help="how long the generators produce; the consumers then drain and stop (default: 60)")
    run.add_argument("--trade-rate", type=float, default=None, help="trades per second (default: the generator's)")
    run.add_argument("--serializer", default=None,
                     help="wire format of every stream: json | msgpack | avro (default: KAFKALAB_SERIALIZER or msgpack)")
    # No argparse choices: an unknown transport gets the same one line as KAFKALAB_TRANSPORT.
    run.add_argument("--transport", default=None,
                     help=f"{' | '.join(lab_config.TRANSPORTS)} (default: {lab_config.ENV_TRANSPORT} or "
                          f"{lab_config.DEFAULT_TRANSPORT})")
    run.add_argument("--processor", default="python",
                     help="the market processor: python (ours) | streams (the same job in Kafka Streams, "
                          "built from jvm/market-streams; kafka transport only)")
    run.set_defaults(func=_run)

    bench = sub.add_parser("bench", help=COMMAND_HELP["bench"])
    from kafkalab.bench import EXPERIMENTS, REPORT_SET_NAME

    bench.add_argument("experiment", help=f"one of {', '.join(EXPERIMENTS)}; `all` (every one, the full grids) or "
                       f"`{REPORT_SET_NAME}` (what the report needs, bounded: part of `make run`); rows are "
                       f"appended to results/bench/<experiment>.csv")
    bench.add_argument("--quick", action="store_true", help="a small grid, for tests")
    bench.add_argument("--scenario", default=None, metavar="NAME[,NAME]",
                       help="reliability only: run just these scenarios, comma-separated (default: all; "
                            "an unknown name is refused with the list of valid ones)")
    bench.set_defaults(func=_bench)

    report = sub.add_parser("report", help=COMMAND_HELP["report"])
    report.set_defaults(func=_report)

    from kafkalab.bench.profile import add_profile_commands
    from kafkalab.deploy.cli import add_k8s_commands

    add_profile_commands(sub)
    add_k8s_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `kafkalab cluster status | head`: the reader is gone, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
