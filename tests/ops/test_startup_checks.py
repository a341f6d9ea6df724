"""gunicorn and qcluster run the system checks at start-up and refuse a configuration they reject.

Each case starts the real process (`gunicorn -c deploy/gunicorn.conf.py`, `manage.py qcluster`)
in production mode with one unsafe setting (point 9 of the security issue) and sees it exit
non-zero, naming the check, before gunicorn binds its port or the cluster takes a task.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from portal.startup import EXIT_REFUSED

ROOT = Path(__file__).resolve().parents[2]
PROCESS_TIMEOUT = 120

UNSAFE = {
    "emulator endpoint": ({"AWS_ENDPOINT_URL": "http://127.1:5000"}, "portal.E006"),
    "any host": ({"ALLOWED_HOSTS": "*"}, "portal.E007"),
    "low-entropy secret key": ({"SECRET_KEY": "ab" * 40}, "portal.E008"),
    "role map to break-glass": ({"GOVERNANCE_ROLE_MAP": '{"GovernanceAuditor": "break_glass"}'}, "authz.E002"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    """A production configuration that passes every check; each test spoils one setting."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = tmp_path / "signing-key.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    # Nothing the test process itself set for its own runs: the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE,
    # inherited by a later test in the same worker, would fail the deploy check (async.E001).
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "OIDC_", "SAML_", "DEMO_IDP", "DJANGO_", "AUTHLIB_"))
    }
    return {
        **inherited,
        "PORTAL_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "portal.example.com",
        # Never connected to: the checks that refuse a start need no database.
        "DATABASE_URL": "postgres://portal@127.0.0.1:9/portal",
        "OIDC_PROVIDERS": "corp",
        "OIDC_CORP_ISSUER": "https://idp.example.com",
        "OIDC_CORP_CLIENT_ID": "portal",
        "OIDC_CORP_CLIENT_SECRET": "not-used",
        "SIGNING_KEY_FILE": str(key),
        "STATIC_ROOT": str(tmp_path / "static"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "GUNICORN_BIND": f"127.0.0.1:{_free_port()}",
        "GUNICORN_WORKERS": "1",
    }


def _gunicorn(env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "portal.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def _refused(process: subprocess.Popen) -> str:
    try:
        output, _ = process.communicate(timeout=PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail("the process started instead of refusing:\n" + output[-3000:])
    assert process.returncode != 0, output
    return output


@pytest.mark.parametrize(("changes", "check_id"), UNSAFE.values(), ids=UNSAFE.keys())
def test_it_refuses_to_start_gunicorn_on_an_unsafe_setting(production_env, changes, check_id):
    output = _refused(_gunicorn({**production_env, **changes}))
    assert "Refusing to start gunicorn: the configuration fails Django's system checks." in output
    assert f"({check_id})" in output
    assert "Error: gunicorn does not start: the system checks failed" in output
    assert "Listening at" not in output and "Booting worker" not in output


def test_it_refuses_to_start_gunicorn_when_settings_do_not_load(production_env):
    output = _refused(_gunicorn({**production_env, "DEBUG": "true"}))
    assert "Refusing to start gunicorn" in output
    assert "DEBUG must be false in production" in output
    assert "Listening at" not in output


@pytest.mark.parametrize(("changes", "check_id"), UNSAFE.values(), ids=UNSAFE.keys())
def test_it_refuses_to_start_qcluster_on_an_unsafe_setting(production_env, changes, check_id):
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**production_env, **changes},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = _refused(process)
    assert process.returncode == EXIT_REFUSED
    assert "Refusing to start qcluster: the configuration fails Django's system checks." in output
    assert f"({check_id})" in output


def test_qcluster_offers_no_way_to_skip_the_checks(production_env):
    process = subprocess.run(
        [sys.executable, "manage.py", "qcluster", "--skip-checks"],
        cwd=ROOT,
        env={**production_env, "ALLOWED_HOSTS": "*"},
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert process.returncode != 0
    assert "unrecognized arguments: --skip-checks" in process.stderr


def test_gunicorn_starts_on_a_safe_production_configuration(production_env):
    server = _gunicorn(production_env)
    try:
        assert server.stdout is not None
        seen = []
        for line in server.stdout:
            if "Listening at" in line:
                break
            seen.append(line)
        else:
            pytest.fail(f"gunicorn exited ({server.wait()}) without listening:\n" + "".join(seen)[-3000:])
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
