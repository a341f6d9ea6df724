"""`make run` stops cleanly: every process it started is gone within 5 s of a stop signal.

Each signal is sent to the process group of `make run` (as Ctrl-C, systemd, `timeout` and CI do),
and every descendant process recorded beforehand (make, run_demo, the emulator, the demo IdP, the
task cluster with its sentinel and workers, the web server) must have exited 5 s later. The
instances start in parallel, each on its own ports and SQLite database, once the one migrated
database is copied to each, and are stopped one at a time, so a stop is measured on a machine
that is not also starting two portals.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STOPPED_WITHIN = 5.0
READY = re.compile(r"The governance portal is running at (http://\S+)")
CLUSTER_RUNNING = re.compile(r"Q Cluster \S+ \[\S+\] running")
SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _tree(pid: int) -> set[int]:
    """`pid` and every process descended from it, now."""
    children, found, todo = _children(), set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, ()))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's bookkeeping is left


def _reset_signals() -> None:
    # Whatever ran pytest may have ignored SIGINT (a shell does for background jobs); make run
    # must see the signals as a terminal would deliver them.
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


@dataclass
class Instance:
    process: subprocess.Popen
    workdir: Path
    output: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)
    ready: threading.Event = field(default_factory=threading.Event)
    _seen: set[str] = field(default_factory=set)

    def read(self) -> None:
        """Collect the output; `ready` once the web server answers and the task cluster runs."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self._seen |= {
                name for name, pattern in (("web", READY), ("cluster", CLUSTER_RUNNING)) if pattern.search(line)
            }
            if self._seen == {"web", "cluster"}:
                self.ready.set()

    @property
    def log(self) -> str:
        return "".join(self.output[-60:])


def _start(workdir: Path, database: Path) -> Instance:
    workdir.mkdir()
    shutil.copy(database, workdir / "portal.sqlite3")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "PYTEST", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'portal.sqlite3'}",
        EMULATOR_STATE=str(workdir / "emulator-state.pickle"),
        PORT=str(_free_port()),
        EMULATOR_PORT=str(_free_port()),
        DEMO_IDP_PORT=str(_free_port()),
        Q_WORKERS="2",
    )
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
        preexec_fn=_reset_signals,
    )
    instance = Instance(process=process, workdir=workdir)
    threading.Thread(target=instance.read, daemon=True).start()
    return instance


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    base = tmp_path_factory.mktemp("make-run")
    database = base / "migrated.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{database}"},
        check=True,
        timeout=300,
    )
    started = {signum: _start(base / signal.Signals(signum).name, database) for signum in SIGNALS}
    yield started
    for instance in started.values():  # whatever a failed test left running, orphans included
        for pid in (instance.pids | _tree(instance.process.pid)) if instance.process.poll() is None else instance.pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if instance.process.poll() is None:
            instance.process.wait(timeout=10)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_every_process_make_run_started_stops_within_5_s_of_a_signal_to_its_group(instances, signum):
    instance = instances[signum]
    assert instance.ready.wait(timeout=300), f"make run did not become ready:\n{instance.log}"
    pids = instance.pids = _tree(instance.process.pid)
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in pids]
    assert any("qcluster" in c for c in commands) and any("runserver" in c for c in commands), commands
    assert len([c for c in commands if "qcluster" in c]) >= 4  # main, sentinel, workers, monitor, pusher

    os.killpg(instance.process.pid, signum)
    sent = time.monotonic()
    while time.monotonic() - sent < STOPPED_WITHIN + 5 and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    took = time.monotonic() - sent
    left = sorted(pid for pid in pids if _alive(pid))

    assert not left, f"still running {took:.1f} s after {signal.Signals(signum).name}: {left}\n{instance.log}"
    assert took <= STOPPED_WITHIN, f"stopped after {took:.1f} s\n{instance.log}"
    instance.process.wait(timeout=5)
    assert "Stopping (" in instance.log
    assert (instance.workdir / "emulator-state.pickle").exists()  # the emulator saved what it held
