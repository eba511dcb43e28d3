"""The nft script of a network fault (the rules themselves are exercised on real brokers in
tests/integration/kafka/test_network_faults.py)."""

import pytest

from kafkalab.runtime import netfaults


def test_a_partition_drops_every_packet_of_the_node():
    script = netfaults.rules("t1", {9094, 9095}, {41000}, "unified/kafkalab-fault-x", 100)
    assert "tcp dport { 9094, 9095 } counter drop" in script
    assert "tcp sport { 9094, 9095 } counter drop" in script
    assert 'socket cgroupv2 level 1 "unified/kafkalab-fault-x" counter drop' in script
    assert "tcp sport { 41000 } counter drop" in script and "tcp dport { 41000 } counter drop" in script
    assert "numgen" not in script


def test_packet_loss_drops_a_random_share():
    script = netfaults.rules("t1", {9094}, set(), "g", 5)
    drops = [line for line in script.splitlines() if line.endswith("drop")]
    assert len(drops) == 3 and all("numgen random mod 100 < 5 counter drop" in line for line in drops)


@pytest.mark.parametrize("percent", [0, 101, -5])
def test_a_share_outside_1_to_100_is_refused(percent):
    with pytest.raises(ValueError, match="drop_percent"):
        netfaults.rules("t1", {9094}, set(), "g", percent)


def test_the_cgroup_name_is_given_as_nft_resolves_it():
    from pathlib import Path

    assert netfaults._cgroup_path(Path("/sys/fs/cgroup/unified"), "g") == "unified/g"
    assert netfaults._cgroup_path(Path("/sys/fs/cgroup"), "g") == "g"
