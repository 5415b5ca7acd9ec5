"""Starting, probing and stopping the stack's background processes."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from streamer.errors import PrerequisiteError, StackError


def require_program(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PrerequisiteError(f"{name} not found on PATH: {install_hint}")
    return path


def as_user(cmd: Sequence[str], user: str | None) -> list[str]:
    """Prefix `runuser` when root must run a program as another user (PostgreSQL refuses root)."""
    return ["runuser", "-u", user, "--", *cmd] if user else list(cmd)


def service_user() -> str | None:
    """The user PostgreSQL runs as: ourselves, or `postgres` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PrerequisiteError(
            "running as root needs a 'postgres' user for PostgreSQL: apt-get install postgresql"
        ) from None
    return "postgres"


def chown_to(path: Path, user: str | None) -> None:
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def run(cmd: Sequence[str], *, what: str, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, timeout: float = 600) -> str:
    """Run to completion; on failure raise StackError with the tail of its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(env), cwd=cwd,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise StackError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    return proc.stdout


# The services we started from this process. Kept so the Popen objects are not collected while
# their processes run (Python warns about that), and polled once they are stopped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def spawn(cmd: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start a detached process writing to `log`; return its pid."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=_env(env), cwd=cwd, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _env(extra: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if extra is None else {**os.environ, **extra}


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0): reap it if it is ours.
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def stop_pid(pid: int, *, timeout: float = 30) -> None:
    """SIGTERM, wait, then SIGKILL the process group."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def stop_pid_file(pid_file: Path, *, timeout: float) -> None:
    """Stop the process group whose pid `pid_file` holds (SIGTERM, then SIGKILL after `timeout`
    seconds), then remove the file."""
    pid = read_pid(pid_file)
    if pid and pid_alive(pid):
        stop_pid(pid, timeout=timeout)
    pid_file.unlink(missing_ok=True)


def stop_process(process: subprocess.Popen[Any], *, timeout: float, kill_timeout: float | None = 5) -> None:
    """SIGTERM a child, wait up to `timeout` seconds, then SIGKILL it and wait `kill_timeout`
    (None: as long as it takes)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(kill_timeout)


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None,
               alive: Callable[[], bool] | None = None) -> float:
    """Poll `check` until true; return the seconds waited, or raise StackError naming the log."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        if alive is not None and not alive():
            raise StackError(f"{what} exited during start-up" + _log_tail(log))
        time.sleep(0.2)
    raise StackError(f"{what} not ready after {timeout:.0f} s" + _log_tail(log))


def _log_tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"; last lines of {log}:\n" + "\n".join(tail)
