"""Formatting a node's storage with the real Kafka storage tool (needs java and the fetched jars, no broker)."""

from dataclasses import replace

from kafkalab import config as lab_config
from kafkalab.transports.kafka.cluster import LocalCluster, new_cluster_id
from kafkalab.transports.kafka.dist import ensure_fetched, require_java


def test_a_cluster_id_beginning_with_a_dash_is_formatted(tmp_path):
    base = lab_config.load().cluster  # the real jar cache; the run folder is the test's own
    cluster = LocalCluster(replace(base, run_dir=tmp_path / "cluster"), echo=lambda _: None)
    dist = ensure_fetched(cluster.config, echo=lambda _: None)
    node_dir = cluster.node_dir(1)
    (node_dir / "logs").mkdir(parents=True)
    cluster._properties(1).write_text(cluster._server_properties(1))
    jvm = [require_java(), *cluster._jvm_options(dist, 1), "-cp", dist.classpath]

    cluster._format(1, jvm, "-DncXIHyS6Kki6Mi3ELoew")

    meta = (node_dir / "data" / "meta.properties").read_text()
    assert "cluster.id=-DncXIHyS6Kki6Mi3ELoew" in meta


def test_new_cluster_ids_never_begin_with_a_dash():
    ids = [new_cluster_id() for _ in range(2000)]  # about 31 of 2000 random ids would
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)
