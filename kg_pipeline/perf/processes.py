"""Which process on this machine is the model server, read from Linux's /proc (no psutil).

A benchmark is told a URL, not a process; when the URL points at this machine, the process
listening on its port is the server, and its descendants belong to it too: Ollama keeps the model
in a `runner` child and vLLM in an engine-core child, so the listening process alone holds little
of the memory and does little of the work. Every lookup answers a PID or a sentence saying why
there is none, never a guess.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

PROC = Path("/proc")
NOT_LOCAL = "not available: server is not on this machine"
_LISTEN = "0A"  # TCP state code in /proc/net/tcp
# A container runtime's port forwarder listens in the server's place; its figures are not the
# server's.
_PORT_FORWARDERS = {"docker-proxy", "rootlessport"}


def is_this_machine(host: str) -> bool:
    """Loopback, the unspecified address, or this machine's own name. Other names are not
    resolved: a DNS lookup per benchmark is slow, and a LAN address of this machine is rare
    enough to pass the PID explicitly instead."""
    if host in {"localhost", socket.gethostname()}:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == _LISTEN:
                inodes.add(fields[9])
    return inodes


def _pids() -> list[int]:
    return sorted(int(p.name) for p in PROC.iterdir() if p.name.isdigit())


def _socket_owners(inodes: set[str]) -> list[int]:
    """PIDs holding one of these socket inodes open; another user's processes cannot be read and
    are skipped."""
    targets = {f"socket:[{inode}]" for inode in inodes}
    owners = []
    for pid in _pids():
        try:
            fds = os.listdir(PROC / str(pid) / "fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(PROC / str(pid) / "fd" / fd) in targets:
                    owners.append(pid)
                    break
            except OSError:
                continue
    return owners


def process_name(pid: int) -> str:
    return (PROC / str(pid) / "comm").read_text().strip()


def listening_pid(port: int) -> int | str:
    """The process listening on ``port`` on this machine. Where several share the socket (a
    pre-forking server), the lowest PID, normally the parent that forked the rest."""
    if not (PROC / "net" / "tcp").exists():
        return "not available: /proc/net/tcp cannot be read (not Linux?); pass the server's PID"
    inodes = _listening_inodes(port)
    if not inodes:
        return f"not available: nothing on this machine listens on port {port}"
    owners = _socket_owners(inodes)
    if not owners:
        return (
            f"not available: port {port} is listening, but its process cannot be read (another "
            "user's, or in a container); pass the server's PID"
        )
    pid = owners[0]
    try:
        name = process_name(pid)
    except OSError:
        name = ""
    if name in _PORT_FORWARDERS:
        return (
            f"not available: port {port} is forwarded by {name} (PID {pid}); the server runs in "
            "a container, pass the PID of its process as seen from this machine"
        )
    return pid


def server_pid(base_url: str) -> int | str:
    """The server process behind ``base_url`` when the server runs on this machine."""
    parts = urlsplit(base_url)
    if not parts.hostname or not is_this_machine(parts.hostname):
        return NOT_LOCAL
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return listening_pid(port)


def _parent_of(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name sits in parentheses and may itself contain spaces or parentheses.
    return int(stat.rsplit(")", 1)[1].split()[1])


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive now, ``pid`` first."""
    children: dict[int, list[int]] = {}
    for other in _pids():
        parent = _parent_of(other)
        if parent is not None:
            children.setdefault(parent, []).append(other)
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for parent in frontier for child in children.get(parent, [])]
        tree.extend(frontier)
    return tree
