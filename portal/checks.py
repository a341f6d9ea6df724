"""System checks for configuration mistakes that would only show up later, under load or in production.

settings.py already refuses the worst of these at start-up from environment variables; these
checks also catch them when settings are edited or overridden in code.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

SQLITE = "django.db.backends.sqlite3"


@register("portal")
def check_task_queue(app_configs=None, **kwargs) -> list:
    """django-q2: a task must time out before it is retried, retry a bounded number of times, not catch up."""
    problems = []
    q_cluster = getattr(settings, "Q_CLUSTER", None) or {}
    timeout, retry = q_cluster.get("timeout"), q_cluster.get("retry")
    if timeout is None or retry is None or timeout >= retry:
        problems.append(
            Error(
                f"Q_CLUSTER timeout ({timeout}) must be set and smaller than retry ({retry}).",
                hint="Otherwise a task still running is handed to a second worker and runs twice at once. "
                "Set Q_TIMEOUT_SECONDS below Q_RETRY_SECONDS.",
                id="portal.E001",
            )
        )
    max_attempts = q_cluster.get("max_attempts", 0)
    if not isinstance(max_attempts, int) or max_attempts < 1:
        problems.append(
            Error(
                f"Q_CLUSTER max_attempts is {max_attempts!r}; django-q treats 0 as retry forever.",
                hint="Set Q_MAX_ATTEMPTS to a small positive number (e.g. 3).",
                id="portal.E002",
            )
        )
    if q_cluster.get("catch_up", True):
        problems.append(
            Error(
                "Q_CLUSTER catch_up is on (django-q's default): after downtime every missed run of a schedule "
                "is queued at once.",
                hint="Set 'catch_up': False; the next scheduled run covers what was missed.",
                id="portal.E003",
            )
        )
    orm = q_cluster.get("orm")
    if orm is not None and orm not in settings.DATABASES:
        problems.append(
            Error(
                f"Q_CLUSTER orm broker names database {orm!r}, which is not in DATABASES.",
                id="portal.E005",
            )
        )
    return problems


@register("portal")
def check_database(app_configs=None, **kwargs) -> list:
    problems = []
    default = settings.DATABASES.get("default", {})
    if default.get("CONN_MAX_AGE", 0) == 0:
        problems.append(
            Warning(
                "DATABASES['default'] CONN_MAX_AGE is 0: every request and every task opens a new connection.",
                hint="Set DB_CONN_MAX_AGE to a number of seconds (60 by default).",
                id="portal.W001",
            )
        )
    if getattr(settings, "PRODUCTION", False) and any(db.get("ENGINE") == SQLITE for db in settings.DATABASES.values()):
        problems.append(
            Error(
                "SQLite is configured in production.",
                hint="Point DATABASE_URL at PostgreSQL; SQLite serializes every writer and the task queue with them.",
                id="portal.E004",
            )
        )
    return problems


def is_local_address(url: str) -> bool:
    """Whether `url` names a loopback or unspecified address however written (`127.1`, `0.0.0.0`,
    `localhost.`, `[::ffff:127.0.0.1]`, `0x7f000001`)."""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").rstrip(".").lower()
    except ValueError:
        return True  # a URL that cannot be parsed is not trusted to be remote
    if not host or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))  # 127.1, 0x7f.1, 2130706433
        except OSError:
            return False
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_loopback or address.is_unspecified


def _secret_key_bits(key: str) -> float:
    import math
    import re
    from collections import Counter

    if not key:
        return 0.0
    # A key that is one piece repeated is as strong as the piece.
    if periodic := re.fullmatch(r"(.+?)\1+", key, re.S):
        key = periodic.group(1)
    counts = Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    return per_char * len(key)


@register("portal", deploy=False)
def check_production_safety(app_configs=None, **kwargs) -> list:
    """Production refuses an emulator endpoint, any host, and a guessable SECRET_KEY."""
    if not getattr(settings, "PRODUCTION", False):
        return []
    problems = []
    endpoint = getattr(settings, "AWS_ENDPOINT_URL", "")
    if endpoint and is_local_address(endpoint):
        problems.append(
            Error(
                f"AWS_ENDPOINT_URL ({endpoint}) points at a loopback or unspecified address: an emulator, never AWS.",
                hint="Leave AWS_ENDPOINT_URL unset in production.",
                id="portal.E006",
            )
        )
    if "*" in getattr(settings, "ALLOWED_HOSTS", []):
        problems.append(
            Error(
                "ALLOWED_HOSTS contains '*': any Host header is accepted (password-reset and link poisoning).",
                hint="List the portal's host names.",
                id="portal.E007",
            )
        )
    if _secret_key_bits(getattr(settings, "SECRET_KEY", "")) < 200:
        problems.append(
            Error(
                "SECRET_KEY has too little entropy to sign sessions safely.",
                hint='Generate one: python -c "import secrets; print(secrets.token_urlsafe(64))".',
                id="portal.E008",
            )
        )
    return problems
