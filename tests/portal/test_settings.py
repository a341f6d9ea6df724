"""Production refuses to start on an unsafe or incomplete configuration, naming the variable.

Each case runs `manage.py check` in a subprocess with a controlled environment, the way an
operator starts the portal, and looks at the exit code and what it printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from governance.audit.signing import generate_key_file

ROOT = Path(__file__).resolve().parents[2]

# A complete production configuration has a signing key (audit checkpoints, evidence manifests).
SIGNING_KEY_FILE = Path(tempfile.mkdtemp(prefix="portal-settings-")) / "signing-key.pem"
generate_key_file(SIGNING_KEY_FILE)

PRODUCTION = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "q8Vn2sLr7Xw4Tz9Bk6Hd3Jm5Pf1Gc0Ya8Ue2Wi7Oo4Rt9Ns6Lb3Kv5Mx1Zq-7Ep",
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "postgres://portal:secret@db.example.com:5432/portal",
    "OIDC_PROVIDERS": "corp",
    "OIDC_CORP_NAME": "Corporate SSO",
    "OIDC_CORP_CLIENT_ID": "governance-portal",
    "OIDC_CORP_CLIENT_SECRET": "a-client-secret",
    "OIDC_CORP_ISSUER": "https://sso.example.com",
    "SIGNING_KEY_FILE": str(SIGNING_KEY_FILE),
}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return _run(env, "manage.py", "check", *args)


def _production(**changes: str | None) -> dict[str, str]:
    env = dict(PRODUCTION)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_it_passes_the_deploy_checks_with_a_complete_production_configuration():
    result = _check(PRODUCTION, "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_it_never_falls_back_to_the_demo_idp_in_production():
    code = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        "print(json.dumps({'demo': s.DEMO_IDP_URL, 'debug': s.DEBUG,"
        " 'providers': [a['provider_id'] for a in s.SOCIALACCOUNT_PROVIDERS['openid_connect']['APPS']],"
        " 'secure': [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE]}))"
    )
    result = _run({**PRODUCTION, "DJANGO_SETTINGS_MODULE": "portal.settings"}, "-c", code)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "demo": "",
        "debug": False,
        "providers": ["corp"],
        "secure": [True, True],
    }


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        pytest.param({"DEBUG": "true"}, ["DEBUG"], id="debug-on"),
        pytest.param({"SECRET_KEY": None}, ["SECRET_KEY"], id="no-secret-key"),
        pytest.param(
            {"SECRET_KEY": "development-only-key-never-use-in-production-" + "x" * 16},
            ["SECRET_KEY"],
            id="dev-secret-key",
        ),
        pytest.param({"SECRET_KEY": "short"}, ["SECRET_KEY"], id="short-secret-key"),
        pytest.param({"ALLOWED_HOSTS": None}, ["ALLOWED_HOSTS"], id="no-allowed-hosts"),
        pytest.param({"DATABASE_URL": None}, ["DATABASE_URL"], id="no-database-url"),
        pytest.param({"DATABASE_URL": "sqlite:////tmp/portal.sqlite3"}, ["DATABASE_URL", "PostgreSQL"], id="sqlite"),
        pytest.param({"AWS_ENDPOINT_URL": "http://127.0.0.1:5055"}, ["AWS_ENDPOINT_URL"], id="loopback-aws"),
        pytest.param({"AWS_ENDPOINT_URL": "http://localhost:5055"}, ["AWS_ENDPOINT_URL"], id="localhost-aws"),
        pytest.param({"OIDC_PROVIDERS": None}, ["OIDC_PROVIDERS", "SAML_PROVIDERS"], id="no-idp"),
        pytest.param({"OIDC_CORP_CLIENT_SECRET": None}, ["OIDC_CORP_CLIENT_SECRET"], id="incomplete-idp"),
        pytest.param({"OIDC_CORP_ISSUER": None}, ["OIDC_CORP_ISSUER"], id="idp-without-issuer"),
    ],
)
def test_it_refuses_to_start_in_production(changes, names):
    result = _check(_production(**changes))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    for name in names:
        assert name in message, message


def test_it_names_every_problem_at_once():
    result = _check(_production(DEBUG="yes", SECRET_KEY=None, ALLOWED_HOSTS=None))

    message = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0
    assert all(name in message for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")), message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AWS_MAX_ATTEMPTS", "abc", "AWS_MAX_ATTEMPTS must be an integer; got 'abc'"),
        ("AWS_MAX_ATTEMPTS", "0", "AWS_MAX_ATTEMPTS must be at least 1"),
        ("DEBUG", "maybe", "DEBUG must be a boolean; got 'maybe'"),
        ("PORTAL_ENV", "staging", "PORTAL_ENV must be one of development, production; got 'staging'"),
        ("SESSION_IDLE_MINUTES", "half an hour", "SESSION_IDLE_MINUTES must be an integer"),
        ("IDP_TIMEOUT_SECONDS", "-1", "IDP_TIMEOUT_SECONDS must be at least 1"),
        ("DATABASE_URL", "nonsense://x", "DATABASE_URL is not a valid database URL"),
    ],
)
def test_it_names_a_malformed_variable(name, value, expected):
    result = _check({name: value})

    assert result.returncode != 0
    assert expected in result.stderr.strip().splitlines()[-1]


def test_it_names_a_malformed_variable_in_production_too():
    result = _check(_production(AWS_MAX_ATTEMPTS="abc"))

    assert result.returncode != 0
    assert "AWS_MAX_ATTEMPTS must be an integer" in result.stderr


def test_it_starts_in_development_without_any_configuration():
    result = _check({})

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_without_a_signing_key_warns_that_nothing_can_be_signed():
    result = _check(_production(SIGNING_KEY_FILE=None), "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "audit.W001" in result.stderr and "SIGNING_KEY_FILE is not set" in result.stderr
