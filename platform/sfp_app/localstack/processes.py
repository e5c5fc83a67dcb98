"""Process plumbing shared by the local services: free ports, detached process groups, health waits, stopping.

Every service runs in its own session (process group) so that stopping it stops its children too and nothing
else. Linux only: process groups are read from /proc.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from sfp.errors import SfpError

_PORT_RANGE = (20000, 55000)  # leaves room for SeaweedFS's "+10000" gRPC convention below 65536
HEALTH_TIMEOUT_S = 5.0  # one health request; a busy machine (Ray's dashboard on two loaded cores) needs seconds


def find_executable(name: str) -> Path:
    """The console script `name` of this Python environment, else the one on PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is None:
        raise SfpError(f"executable {name!r} not found in {sysconfig.get_path('scripts')} nor on PATH")
    return Path(found)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could listen on `port` now (as servers do, with SO_REUSEADDR: TIME_WAIT is no obstacle)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, also_free_at: Sequence[int] = (), exclude: Sequence[int] = ()) -> int:
    """A port that is free now, and whose `port + offset` is free too for every offset in `also_free_at`."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randint(*_PORT_RANGE)
        wanted = [port, *(port + offset for offset in also_free_at)]
        if any(p in exclude for p in wanted):
            continue
        if all(port_is_free(p, host) for p in wanted):
            return port
    raise SfpError(f"no free port found on {host} in {_PORT_RANGE}")


def spawn(command: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start `command` in a new session (its own process group), stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of `pid`, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces and parentheses
    return fields[0], int(fields[2])


def pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def pid_runs(pid: int, marker: str) -> bool:
    """True if `pid` is alive and its command line contains `marker`: a recorded pid is still our process,
    not an unrelated one that reuses the number."""
    if not pid_alive(pid):
        return False
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


def group_members(pgid: int) -> list[int]:
    """The live (non-zombie) processes of process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[1] == pgid and stat[0] != "Z":
                members.append(int(entry.name))
    return sorted(members)


def stop_group(pgid: int, *, timeout: float = 30.0, process: subprocess.Popen | None = None,
               leader_first: bool = False) -> None:
    """SIGTERM the process group `pgid`, wait until it is empty, SIGKILL what is left after `timeout` seconds.

    `leader_first` sends the first SIGTERM to the leader alone and gives it `timeout` seconds to stop its own
    children in order (as `ray start --block` does) before the rest of the group is signalled. Pass `process`
    when it is a child of this Python process so that it is reaped (no zombie left behind).
    """
    steps = [(signal.SIGTERM, os.kill, timeout)] if leader_first else []
    steps += [(signal.SIGTERM, os.killpg, timeout), (signal.SIGKILL, os.killpg, 10.0)]
    for sig, send, wait_s in steps:
        try:
            send(pgid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if process is not None:
                process.poll()
            if not group_members(pgid):
                if process is not None:
                    process.wait(timeout=5)
                return
            time.sleep(0.1)
    raise SfpError(f"process group {pgid} still has processes {group_members(pgid)} after SIGKILL")


def stop_recorded(pid: int, *, ours: bool, timeout: float = 30.0, process: subprocess.Popen | None = None,
                  leader_first: bool = False) -> None:
    """Stop the process group a service was started in, given only its recorded leader `pid`.

    `ours` says the leader still runs our command (see `pid_runs`). If it does not but the number is alive, the
    number was reused by an unrelated process and nothing is signalled; if the leader is gone, what is left of
    its group is stopped (the kernel does not reuse a number while a group of that id exists).
    """
    if ours or process is not None:
        stop_group(pid, timeout=timeout, process=process, leader_first=leader_first)
    elif not pid_alive(pid) and group_members(pid):
        stop_group(pid, timeout=timeout)


def processes_with_option(value: str) -> list[int]:
    """Live processes (other than this one) with a `--option=...` argument that contains `value`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if any(arg.startswith("--") and value in arg for arg in args) and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def stop_pids(pids: Sequence[int], *, timeout: float = 10.0) -> None:
    """SIGTERM each process, SIGKILL those still alive after `timeout` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout=timeout, interval=0.1):
            return


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.25,
               alive: Callable[[], bool] | None = None) -> bool:
    """Poll `check` until it returns True (-> True), `timeout` passes or `alive` returns False (-> False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline or (alive is not None and not alive()):
            return False
        time.sleep(interval)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
