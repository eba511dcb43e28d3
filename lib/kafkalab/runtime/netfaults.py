"""Network faults for one local node: cut it off, or drop a share of its packets, then heal.

Every node of the local clusters listens on 127.0.0.1, so a fault has to pick out one
process's traffic on the loopback device. nftables does that in the output hook (each
loopback packet passes it once, as sent), with three kinds of match:

- packets to or from the node's listening ports: requests of clients and peers, and the
  node's answers;
- packets of sockets the node opens while the fault lasts: the process is moved into a
  cgroup of its own and `socket cgroupv2` matches its new sockets (a socket keeps the
  cgroup it was created in, hence the next match);
- packets of the connections the node had already opened (to its peers' ports), by their
  local port, read from the process table when the fault starts.

`drop_percent=100` is a partition (packets vanish; no reset, so both sides find out by
timeouts, as across a real switch); less drops that share at random (`numgen`), i.e.
packet loss. Needs root, the `nft` tool and a cgroup2 mount; `unavailable()` says which
is missing, so tests can skip with the reason. This kernel has no `tc netem`: added latency
is a userspace proxy's job (kafkalab.runtime.toxiproxy).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

from kafkalab.errors import LabError

TABLE_PREFIX = "kafkalab_fault_"
NFT_CGROUP_ROOT = Path("/sys/fs/cgroup")  # nft looks `socket cgroupv2` paths up below this folder


class NetFaultError(LabError):
    """A fault could not be set up or removed."""


def cgroup2_mount() -> Path | None:
    """Where the cgroup2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on hybrid systems)."""
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "cgroup2":
            return Path(parts[1])
    return None


def unavailable() -> str | None:
    """Why network faults cannot be made on this machine, or None when they can."""
    if os.geteuid() != 0:
        return "network faults need root (nftables and cgroups)"
    if shutil.which("nft") is None:
        return "network faults need the nft tool (apt-get install nftables)"
    mount = cgroup2_mount()
    if mount is None or not mount.is_relative_to(NFT_CGROUP_ROOT):
        return f"network faults need a cgroup2 mount under {NFT_CGROUP_ROOT} (found: {mount})"
    probe = f"{TABLE_PREFIX}probe_{os.getpid()}"
    try:
        _nft(f"add table inet {probe}\ndelete table inet {probe}\n")
    except NetFaultError as exc:
        return f"nftables does not work here: {exc}"
    return None


def _nft(script: str) -> None:
    done = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if done.returncode != 0:
        raise NetFaultError(f"nft refused the rules: {(done.stderr.strip().splitlines() or ['?'])[-1]}")


def _dropped(table: str) -> int:
    """Packets the fault's rules dropped so far (their counters)."""
    done = subprocess.run(["nft", "-j", "list", "table", "inet", table], text=True, capture_output=True)
    if done.returncode != 0:
        return -1
    items = json.loads(done.stdout).get("nftables", [])
    return sum(part["counter"]["packets"] for item in items for part in item.get("rule", {}).get("expr", [])
               if isinstance(part, dict) and "counter" in part)


@dataclass
class Fault:
    """What one fault did: filled in when it is healed."""

    dropped_packets: int = 0


def _cgroup_path(mount: Path, name: str) -> str:
    """A cgroup as nft names it in `socket cgroupv2`: relative to /sys/fs/cgroup, wherever cgroup2 is."""
    return str((mount / name).relative_to(NFT_CGROUP_ROOT))


def _open_local_ports(pid: int, listening: set[int]) -> set[int]:
    """Local ports of the node's outbound TCP connections now (its listeners are matched anyway)."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        raise NetFaultError(f"process {pid} is gone") from None
    return {c.laddr.port for c in conns if c.laddr and c.raddr and c.laddr.port not in listening}


def rules(table: str, ports: set[int], old_ports: set[int], cgroup: str, drop_percent: int) -> str:
    """The nft script of one fault (pure: unit-tested)."""
    if not 0 < drop_percent <= 100:
        raise ValueError(f"drop_percent must be in 1..100 (got {drop_percent})")
    verdict = "counter drop" if drop_percent == 100 else f"numgen random mod 100 < {drop_percent} counter drop"
    listed = ", ".join(map(str, sorted(ports)))
    lines = [f"add table inet {table}",
             f"add chain inet {table} out {{ type filter hook output priority 0; policy accept; }}",
             f"add rule inet {table} out tcp dport {{ {listed} }} {verdict}",
             f"add rule inet {table} out tcp sport {{ {listed} }} {verdict}",
             f'add rule inet {table} out socket cgroupv2 level 1 "{cgroup}" {verdict}']
    if old_ports:
        known = ", ".join(map(str, sorted(old_ports)))
        lines += [f"add rule inet {table} out tcp sport {{ {known} }} {verdict}",
                  f"add rule inet {table} out tcp dport {{ {known} }} {verdict}"]
    return "\n".join(lines) + "\n"


@contextmanager
def cut_off(pid: int, ports: set[int], drop_percent: int = 100) -> Iterator[Fault]:
    """While inside: `drop_percent` % of the packets of process `pid` (listening on `ports`)
    are dropped, 100 = a full partition. Healed on exit, whatever happened inside."""
    reason = unavailable()
    if reason:
        raise NetFaultError(reason)
    mount = cgroup2_mount()
    tag = uuid.uuid4().hex[:8]
    group = mount / f"kafkalab-fault-{tag}"
    table = f"{TABLE_PREFIX}{tag}"
    group.mkdir()
    try:
        (group / "cgroup.procs").write_text(str(pid))
        old = _open_local_ports(pid, set(ports))
        _nft(rules(table, set(ports), old, _cgroup_path(mount, group.name), drop_percent))
        fault = Fault()
        try:
            yield fault
        finally:
            fault.dropped_packets = _dropped(table)
            _nft(f"delete table inet {table}\n")
    finally:
        _release(mount, group, pid)


def _release(mount: Path, group: Path, pid: int) -> None:
    try:
        (mount / "cgroup.procs").write_text(str(pid))
    except OSError:
        pass  # the process has gone meanwhile: nothing to move back
    try:
        group.rmdir()
    except OSError:
        pass  # still referenced by the node's sockets; an empty cgroup costs nothing
