"""`make run`: the portal on the embedded default, with everything it needs, in one terminal.

Starts the local AWS emulator, seeds the demo organization (unless the emulator restored it from
`EMULATOR_STATE`, default `var/emulator-state.pickle`, as a warm run does), starts the demo
identity provider, syncs the inventory, seeds the demo's just-in-time eligibility (`manage.py
demo_jit`, which leaves existing policies alone), then runs the django-q2 cluster and the web
server. Every port can be moved with an environment variable; a port another process holds is
reported by name instead of failing later with a traceback.

Stopping. Ctrl-C (SIGINT), SIGTERM (systemd, `timeout`, CI) and SIGHUP (the terminal went away)
stop everything, whether the signal reaches this process alone or the whole process group (make
forwards it too, so it often arrives twice: only the first counts). Each child runs in its own
process group and is asked to stop in the way it stops cleanly; whatever still runs after
`GRACE_SECONDS` is killed with its whole group, so every process is gone within about that long.
The task cluster is the delicate one: django-q2's cluster stops gracefully when its *main*
process is signalled, but a SIGTERM to all of its processes kills the sentinel while it holds
a shared lock, and the main process then waits on that lock forever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# How long children get to stop on their own before they are killed (the promise is 5 s in all).
GRACE_SECONDS = 3.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(Exception):
    """A stop signal arrived; raised once, from the first one."""


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        sys.exit(f"{name} must be a port number; got {raw!r}.")
    if not 1 <= value <= 65535:
        sys.exit(f"{name} must be between 1 and 65535; got {value}.")
    return value


def _require_free(port: int, what: str, variable: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(
                f"Port {port} (the {what}) is already in use by another process. "
                f"Stop that process or choose another port with {variable}=..."
            )


def _wait_http(url: str, what: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"The {what} exited during start-up (code {process.returncode}); see its output above.")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL built here
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    sys.exit(f"The {what} did not answer at {url} within {timeout:.0f} s.")


def _child_setup() -> None:
    """Runs in each child before exec: default signal handling, and SIGTERM if this script dies.

    A child inherits ignored signals (a shell starts background jobs with SIGINT ignored), and the
    child's own clean stop depends on receiving them.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    # How the child stops cleanly: this signal, to its main process only or to its whole group.
    stop_signal: int = signal.SIGTERM
    whole_group: bool = True


class Processes:
    """Children started in their own process groups, stopped together within `GRACE_SECONDS`."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, name: str, args: list[str], env: dict[str, str], **how: object) -> subprocess.Popen:
        process = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True, preexec_fn=_child_setup)
        self.children.append(Child(name, process, **how))  # type: ignore[arg-type]
        return process

    def stop(self) -> None:
        deadline = time.monotonic() + GRACE_SECONDS
        for child in reversed(self.children):
            if child.process.poll() is None:
                _signal(child.process.pid, child.stop_signal, group=child.whole_group)
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"The {child.name} did not stop within {GRACE_SECONDS:.0f} s; killing it.", flush=True)
            # Its group may hold processes of its own (the cluster's workers): none may outlive it.
            _signal(child.process.pid, signal.SIGKILL, group=True)
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=1)


def _signal(pid: int, signum: int, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed (exit {result.returncode}); see above.")


def _install_stop_handlers() -> None:
    state = {"stopping": False}

    def on_signal(signum: int, frame: object) -> None:
        if state["stopping"]:
            return  # make forwards the signal the group already got: stop once
        state["stopping"] = True
        raise Stop(signal.Signals(signum).name)

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)


def main() -> None:
    started = time.monotonic()
    web_port = _port("PORT", 8000)
    aws_port = _port("EMULATOR_PORT", 5055)
    idp_port = _port("DEMO_IDP_PORT", 9400)
    _require_free(web_port, "web server", "PORT")
    _require_free(aws_port, "AWS emulator", "EMULATOR_PORT")
    _require_free(idp_port, "demo identity provider", "DEMO_IDP_PORT")

    (ROOT / "var").mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "PORTAL_ENV": "development",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
            "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"),
            "DEMO_IDP_URL": f"http://127.0.0.1:{idp_port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    state = Path(env.get("EMULATOR_STATE") or ROOT / "var" / "emulator-state.pickle")
    url = f"http://127.0.0.1:{web_port}/"
    processes = Processes()
    _install_stop_handlers()
    try:
        emulator = processes.start(
            "AWS emulator",
            [PYTHON, "-m", "governance.aws.emulator", "--port", str(aws_port), "--state", str(state)],
            env,
        )
        idp = processes.start("demo IdP", [PYTHON, "-m", "portal.demo_idp", "--port", str(idp_port)], env)
        _manage(env, "migrate", "--no-input", "-v", "0")
        _wait_http(env["AWS_ENDPOINT_URL"] + "/_emulator/ready", "AWS emulator", emulator)
        _manage(env, "demo_org")  # does nothing when the emulator restored its organization
        _manage(env, "setup_schedules")
        _wait_http(env["DEMO_IDP_URL"] + "/.well-known/openid-configuration", "demo identity provider", idp)
        _manage(env, "sync_aws")
        _manage(env, "demo_jit")  # eligibility a requester can use at once; leaves existing policies alone
        # The cluster's main process stops its sentinel and workers itself (see the docstring).
        processes.start(
            "task cluster", [PYTHON, "manage.py", "qcluster"], env, stop_signal=signal.SIGTERM, whole_group=False
        )
        web = processes.start(
            "web server", [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{web_port}"], env
        )
        _wait_http(url + "healthz", "web server", web)
        _print_welcome(url, time.monotonic() - started)
        while True:
            for child in processes.children:
                if child.process.poll() is not None:
                    raise SystemExit(
                        f"The {child.name} stopped (exit {child.process.returncode}); stopping everything."
                    )
            time.sleep(0.5)
    except Stop as stop:
        print(f"\nStopping ({stop})…", flush=True)
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        processes.stop()


def _print_welcome(url: str, seconds: float) -> None:
    sys.path.insert(0, str(ROOT))
    from governance.aws.demo.personas import PERSONAS

    lines = [
        "",
        f"The governance portal is running at {url}  (ready in {seconds:.0f} s)",
        "Log in with the demo identity provider as one of these personas (enter the user name at the IdP):",
    ]
    lines += [f"  {p.user_name:<16} {p.role:<20} {p.email}" for p in PERSONAS]
    lines += ["Press Ctrl-C to stop everything.", ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
