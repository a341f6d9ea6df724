"""`make run`: the portal on the embedded default, with everything it needs, in one terminal.

Starts the local AWS emulator, seeds the demo organization, starts the demo identity provider,
syncs the inventory, then runs the django-q2 cluster and the web server. Ctrl-C stops all of it.
Every port can be moved with an environment variable; a port another process holds is reported
by name instead of failing later with a traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


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


def _die_with_parent() -> None:
    """Runs in each child before exec: if this script is killed outright, the child gets SIGTERM."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Processes:
    """Children started in their own process groups, stopped together on exit."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True, preexec_fn=_die_with_parent)
        self.children.append((name, process))
        return process

    def stop(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed (exit {result.returncode}); see above.")


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
    url = f"http://127.0.0.1:{web_port}/"
    processes = Processes()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: sys.exit(0))
    try:
        emulator = processes.start(
            "AWS emulator", [PYTHON, "-m", "governance.aws.emulator", "--port", str(aws_port)], env
        )
        idp = processes.start("demo IdP", [PYTHON, "-m", "portal.demo_idp", "--port", str(idp_port)], env)
        _manage(env, "migrate", "--no-input", "-v", "0")
        _wait_http(env["AWS_ENDPOINT_URL"] + "/moto-api/", "AWS emulator", emulator)
        _manage(env, "demo_org")
        _manage(env, "setup_schedules")
        _wait_http(env["DEMO_IDP_URL"] + "/.well-known/openid-configuration", "demo identity provider", idp)
        _manage(env, "sync_aws")
        processes.start("task cluster", [PYTHON, "manage.py", "qcluster"], env)
        web = processes.start(
            "web server", [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{web_port}"], env
        )
        _wait_http(url + "healthz", "web server", web)
        _print_welcome(url, time.monotonic() - started)
        while True:
            for name, process in processes.children:
                if process.poll() is not None:
                    raise SystemExit(f"The {name} stopped (exit {process.returncode}); stopping everything.")
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping…", flush=True)
    finally:
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
