"""The local AWS emulator (a moto server) for the demo and the tests.

This is the only module that knows the emulator is moto. Everything else reaches it as AWS, through
`AWS_ENDPOINT_URL`. Three ways to run it:

- `start_threaded()` serves it from a thread of the current process (tests: one per xdist worker);
- `start_subprocess(port)` runs `python -m governance.aws.emulator --port PORT` and waits until it
  answers (`make run`);
- `python -m governance.aws.emulator --port PORT [--state FILE]` serves it in the foreground.

With `--state FILE` (what `make run` passes: `var/emulator-state.pickle`), the emulator starts from
the AWS state it held when it last stopped cleanly (SIGTERM, SIGINT or SIGHUP) and saves it again
when it stops, so a warm `make run` finds its demo organization where it left it instead of seeding
a new one whose fresh keys and dates the next sync would record as changes. The file is moto's own
objects, pickled: it is read only from the project's `var/` and only by the emulator, and a file
that another moto version wrote (or that fails to load for any reason) is ignored with a message.

Besides moto's own `/moto-api/` (reset, seed), the server answers `POST /_emulator/backdate`, which
moves the dates AWS would have recorded over time (user and access key creation, last use of an access
key, a password or a role) into the past. AWS offers no API for that, and without it every credential
in a freshly seeded organization would look brand new and recently rotated. `POST /_emulator/throttle`
(`throttle(url, every=N)`) makes it answer every Nth AWS request with the service's throttling error,
as AWS does under load (`every=0` stops it), for the load and fault benchmark and the metrics tests.

Where moto and AWS differ in ways the portal would notice, the emulator follows AWS: every account
has the everyday AWS managed policies (`AWS_MANAGED_POLICIES`), and assigning a permission set to an
account provisions it there. What it still cannot do: service last accessed, CloudTrail lookups,
Access Analyzer and policy simulation are missing (answered with a clean 501 `NotImplemented` in
the request's protocol, not moto's HTML page and a logged traceback); `SourceIdentity` and session tags are accepted by
AssumeRole but not echoed back; IAM policies and SCPs are not enforced; the management account is
named "master". The credential report starts with the root user's line, as AWS's does, and
Identity Center users keep the `aws:identitystore:enterprise` extension (their manager) that
CreateUser was given, which ListUsers and DescribeUser return when asked.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_HOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
BACKDATE_PATH = "/_emulator/backdate"
READY_PATH = "/_emulator/ready"
THROTTLE_PATH = "/_emulator/throttle"


class EmulatorError(RuntimeError):
    """The emulator could not be started, reached or driven."""


def _port_taken_message(host: str, port: int) -> str:
    return (
        f"Cannot start the AWS emulator: port {port} on {host} is already in use by another process. "
        "Stop that process or choose another port."
    )


def _quiet_werkzeug() -> None:
    # One log line per AWS call drowns everything else out; errors still get through.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


# AWS managed policies the emulator offers in every account. moto can load all ~1,600 of them into
# each account it touches, which makes an organization of a hundred accounts slow and memory-hungry,
# so it loads this everyday subset instead; attaching any other AWS managed policy fails as unknown.
AWS_MANAGED_POLICIES = (
    "AdministratorAccess",
    "PowerUserAccess",
    "ReadOnlyAccess",
    "ViewOnlyAccess",
    "SecurityAudit",
    "IAMFullAccess",
    "IAMReadOnlyAccess",
    "AWSOrganizationsFullAccess",
    "AWSOrganizationsReadOnlyAccess",
    "AWSSSOReadOnly",
    "AWSSSOMemberAccountAdministrator",
    "AmazonS3FullAccess",
    "AmazonS3ReadOnlyAccess",
    "AmazonEC2FullAccess",
    "AmazonEC2ReadOnlyAccess",
    "AmazonDynamoDBFullAccess",
    "AmazonRDSFullAccess",
    "AWSLambda_FullAccess",
    "AWSLambdaBasicExecutionRole",
    "AmazonSSMManagedInstanceCore",
    "CloudWatchReadOnlyAccess",
    "AWSCloudTrail_ReadOnlyAccess",
    "AWSSupportAccess",
    "AWSBillingReadOnlyAccess",
    "Billing",
    "DatabaseAdministrator",
    "DataScientist",
    "NetworkAdministrator",
    "SystemAdministrator",
    "SupportUser",
)

_configured = False


def _configure_moto() -> None:
    global _configured
    if _configured:
        return
    from moto.core.config import default_user_config
    from moto.iam import models as iam_models

    everything = json.loads(iam_models.aws_managed_policies_data)
    subset = {name: everything[name] for name in AWS_MANAGED_POLICIES if name in everything}
    iam_models.aws_managed_policies_data = json.dumps(subset)
    default_user_config["iam"]["load_aws_managed_policies"] = True
    _provision_on_assignment()
    _permission_set_boundaries()
    _root_in_credential_report()
    _identity_store_extensions()
    _configured = True


def _provision_on_assignment() -> None:
    """Answer ListAccountsForProvisionedPermissionSet as AWS does.

    AWS provisions a permission set to an account when it is first assigned there; moto records no
    such thing and only knows sets provisioned by hand, to the caller's own account.
    """
    from moto.ssoadmin.models import SSOAdminBackend

    by_hand = SSOAdminBackend.list_accounts_for_provisioned_permission_set

    def provisioned(self: Any, instance_arn: str, permission_set_arn: str) -> list[str]:
        accounts = set(by_hand(self, instance_arn, permission_set_arn))
        accounts.update(
            a.target_id
            for a in self.account_assignments
            if a.instance_arn == instance_arn and a.permission_set_arn == permission_set_arn
        )
        return sorted(accounts)

    SSOAdminBackend.list_accounts_for_provisioned_permission_set = provisioned


def _permission_set_boundaries() -> None:
    """Put, Get and DeletePermissionsBoundary{To,For,From}PermissionSet, which moto lacks.

    Kept per backend (an emulator reset forgets them with everything else). As in AWS, a set
    without a boundary answers ResourceNotFoundException, and so does a permission set that does
    not exist.
    """
    from moto.ssoadmin.exceptions import ResourceNotFoundException
    from moto.ssoadmin.responses import SSOAdminResponse

    def stored(response: Any) -> dict[str, dict[str, Any]]:
        backend = response.ssoadmin_backend
        instance_arn, arn = response._get_param("InstanceArn"), response._get_param("PermissionSetArn")
        backend.describe_permission_set(instance_arn=instance_arn, permission_set_arn=arn)  # raises if unknown
        if not hasattr(backend, "permissions_boundaries"):
            backend.permissions_boundaries = {}
        return backend.permissions_boundaries

    def put(self: Any) -> str:
        stored(self)[self._get_param("PermissionSetArn")] = self._get_param("PermissionsBoundary")
        return json.dumps({})

    def get(self: Any) -> str:
        boundary = stored(self).get(self._get_param("PermissionSetArn"))
        if boundary is None:
            raise ResourceNotFoundException("The permission set has no permissions boundary.")
        return json.dumps({"PermissionsBoundary": boundary})

    def delete(self: Any) -> str:
        if stored(self).pop(self._get_param("PermissionSetArn"), None) is None:
            raise ResourceNotFoundException("The permission set has no permissions boundary.")
        return json.dumps({})

    SSOAdminResponse.put_permissions_boundary_to_permission_set = put
    SSOAdminResponse.get_permissions_boundary_for_permission_set = get
    SSOAdminResponse.delete_permissions_boundary_from_permission_set = delete


def _identity_store_extensions() -> None:
    """CreateUser's `Extensions` (the SCIM enterprise attributes: manager, department, ...),
    returned by ListUsers and DescribeUser when the caller names the extension, as AWS does.

    moto ignores the parameter. The values are kept per backend beside its users, so a reset or a
    restored state keeps them together; a deleted user's extensions go with it.
    """
    from moto.identitystore.responses import IdentityStoreResponse

    def stored(response: Any) -> dict[str, dict[str, Any]]:
        backend = response.identitystore_backend
        if not hasattr(backend, "user_extensions"):
            backend.user_extensions = {}
        return backend.user_extensions

    def with_extensions(response: Any, user: dict[str, Any]) -> dict[str, Any]:
        wanted = response._get_param("Extensions") or []
        saved = stored(response).get(user.get("UserId", ""), {})
        chosen = {name: saved[name] for name in wanted if name in saved}
        return {**user, "Extensions": chosen} if chosen else user

    create_user = IdentityStoreResponse.create_user
    list_users = IdentityStoreResponse.list_users
    describe_user = IdentityStoreResponse.describe_user

    def create(self: Any) -> str:
        body = create_user(self)
        extensions = self._get_param("Extensions")
        if extensions:
            stored(self)[json.loads(body)["UserId"]] = dict(extensions)
        return body

    def listed(self: Any) -> str:
        answer = json.loads(list_users(self))
        answer["Users"] = [with_extensions(self, user) for user in answer.get("Users") or []]
        return json.dumps(answer)

    def described(self: Any) -> str:
        answer = with_extensions(self, json.loads(describe_user(self)))
        return json.dumps(answer)

    IdentityStoreResponse.create_user = create
    IdentityStoreResponse.list_users = listed
    IdentityStoreResponse.describe_user = described


ROOT_DEFAULTS = {"mfa_active": False, "access_key_active": False, "password_last_used_days_ago": None}


def _root_in_credential_report() -> None:
    """Put the root user's line first in the credential report, as AWS does (moto leaves it out).

    A new account's root user has no MFA and no access keys, as in AWS; `_backdate` sets them
    (payload key `root`), since AWS has no API for the root user's credentials either.
    """
    from moto.iam.models import IAMBackend

    own = IAMBackend.get_credential_report

    def report(self: Any) -> str:
        header, _, users = own(self).partition("\n")
        root = {**ROOT_DEFAULTS, **getattr(self, "root_user", {})}
        # Dates fixed once per account, so an unchanged account reads the same report every time.
        stamps = self.__dict__.setdefault("root_user_dates", {})
        now = datetime.now(UTC)
        created = stamps.setdefault("created", (now - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        used_days = root["password_last_used_days_ago"]
        used = "no_information"
        if used_days is not None:
            used = stamps.setdefault(
                f"used:{used_days}", (now - timedelta(days=used_days)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
            )
        key = "true" if root["access_key_active"] else "false"
        rotated = created if root["access_key_active"] else "N/A"
        line = (
            f"<root_account>,arn:aws:iam::{self.account_id}:root,{created},not_supported,{used},not_supported,"
            f"not_supported,{'true' if root['mfa_active'] else 'false'},{key},{rotated},N/A,N/A,N/A,false,N/A,N/A,"
            "N/A,N/A,false,N/A,false,N/A"
        )
        return f"{header}\n{line}\n{users}"

    IAMBackend.get_credential_report = report


def _backdate(payload: dict[str, Any]) -> int:
    """Move recorded dates of one IAM user (and its keys) or role into the past.

    Keys of `payload`: account_id; user_name with created_days_ago, password_last_used_days_ago,
    key_created_days_ago, key_last_used_days_ago (access_key_id narrows these to one key,
    key_last_used_service/region say where it was used); or role_name with created_days_ago and
    role_last_used_days_ago; or root with the root user's mfa_active, access_key_active and
    password_last_used_days_ago (see `_root_in_credential_report`).
    """
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    account_id = str(payload["account_id"])
    backend = iam_backends[account_id]["aws"]
    # moto keeps naive UTC datetimes.
    now = datetime.now(UTC).replace(tzinfo=None)

    def ago(key: str) -> datetime | None:
        days = payload.get(key)
        return None if days is None else now - timedelta(days=float(days))

    changed = 0
    if isinstance(payload.get("root"), dict):
        unknown = set(payload["root"]) - set(ROOT_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown root user facts: {', '.join(sorted(unknown))}")
        backend.root_user = {**getattr(backend, "root_user", {}), **payload["root"]}
        changed += len(payload["root"])
    if payload.get("user_name"):
        user = backend.get_user(payload["user_name"])
        if (when := ago("created_days_ago")) is not None:
            user.create_date = when
            changed += 1
        if (when := ago("password_last_used_days_ago")) is not None:
            user.password_last_used = when
            changed += 1
        for key in user.access_keys:
            if payload.get("access_key_id") and key.access_key_id != payload["access_key_id"]:
                continue
            if (when := ago("key_created_days_ago")) is not None:
                key.create_date = when
                changed += 1
            if (when := ago("key_last_used_days_ago")) is not None:
                service = payload.get("key_last_used_service", "s3")
                region = payload.get("key_last_used_region", "us-east-1")
                key.last_used = AccessKeyLastUsed(timestamp=when, service=service, region=region)
                changed += 1
    if payload.get("role_name"):
        role = backend.get_role(payload["role_name"])
        if (when := ago("created_days_ago")) is not None:
            role.create_date = when
            changed += 1
        if (when := ago("role_last_used_days_ago")) is not None:
            role.last_used = when
            role.last_used_region = payload.get("role_last_used_region", "us-east-1")
            changed += 1
    return changed


class _EmulatorApp:
    """moto's WSGI application plus the backdating endpoint."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        _configure_moto()
        self.moto = DomainDispatcherApplication(create_backend_app)
        self._throttle_every = 0
        self._requests = 0
        self._throttled = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == BACKDATE_PATH and environ.get("REQUEST_METHOD") == "POST":
            return self._backdate(environ, start_response)
        if environ.get("PATH_INFO") == THROTTLE_PATH and environ.get("REQUEST_METHOD") == "POST":
            return self._set_throttle(environ, start_response)
        if environ.get("PATH_INFO") == READY_PATH:
            # Cheap, and ours: moto's /moto-api/data.json serializes everything the emulator holds.
            body = b'{"emulator": "ready"}'
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if self._throttle_every and not environ.get("PATH_INFO", "").startswith("/moto-api"):
            with self._lock:
                self._requests += 1
                throttle = self._requests % self._throttle_every == 0
                self._throttled += throttle
            if throttle:
                return _throttled(environ, start_response)
        try:
            return self.moto(environ, start_response)
        except NotImplementedError as exc:
            return _not_implemented(environ, start_response, exc)

    def _set_throttle(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        with self._lock:
            body = {"throttled": self._throttled, "requests": self._requests}
            self._throttle_every = max(0, int(payload.get("every", 0)))
            self._requests = self._throttled = 0
        data = json.dumps(body).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def _backdate(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
            body, status = {"changed": sum(_backdate(item) for item in payload["items"])}, "200 OK"
        except Exception as exc:  # the caller gets the reason, the server keeps running
            body, status = {"error": f"{type(exc).__name__}: {exc}"}, "400 Bad Request"
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def _throttled(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """AWS's throttling answer in the request's protocol (JSON for Organizations and Identity Center)."""
    return _aws_error(environ, start_response, "400 Bad Request", "Throttling", "Rate exceeded")


def _not_implemented(environ: dict[str, Any], start_response: Any, exc: NotImplementedError) -> list[bytes]:
    """An action moto lacks (CloudTrail lookups, Config, Access Analyzer, ...), answered as a clean
    501 with an error code instead of moto's HTML page and a traceback in the log: clients see at
    once that the endpoint does not offer the API, and botocore does not retry it as an outage."""
    return _aws_error(environ, start_response, "501 Not Implemented", "NotImplemented", str(exc))


def _aws_error(environ: dict[str, Any], start_response: Any, status: str, code: str, message: str) -> list[bytes]:
    """An AWS error answer in the request's protocol: JSON (with `x-amzn-ErrorType`) or query XML."""
    if "json" in environ.get("CONTENT_TYPE", ""):
        json_code = "ThrottlingException" if code == "Throttling" else code
        data = json.dumps({"__type": json_code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", json_code)]
    else:
        error = ET.Element("ErrorResponse")
        detail = ET.SubElement(error, "Error")
        ET.SubElement(detail, "Type").text = "Sender"
        ET.SubElement(detail, "Code").text = code
        ET.SubElement(detail, "Message").text = message
        ET.SubElement(error, "RequestId").text = "emulator"
        data = ET.tostring(error)
        headers = [("Content-Type", "text/xml")]
    start_response(status, [*headers, ("Content-Length", str(len(data)))])
    return [data]


# The services whose state the demo and the portal use; what the state file holds.
STATE_SERVICES = ("iam", "organizations", "sts", "ssoadmin", "identitystore")


def _state_header() -> dict[str, str]:
    from moto import __version__

    return {"format": "governance-emulator-state/1", "moto": __version__}


def save_state(path: Path) -> None:
    """Write what the emulator holds to `path` (atomically: a half-written file is never read)."""
    from moto.backends import get_backend

    _configure_moto()
    state = {name: dict(get_backend(name)) for name in STATE_SERVICES}  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("wb") as out:
        pickle.dump((_state_header(), state), out, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)


def load_state(path: Path) -> bool:
    """Restore what `save_state` wrote; False (and nothing changed) when there is nothing usable."""
    from moto.backends import get_backend

    _configure_moto()
    try:
        with path.open("rb") as source:
            header, state = pickle.load(source)  # noqa: S301 - our own file in the project's var/
        if header != _state_header():
            raise ValueError(f"written by {header}, this is {_state_header()}")
    except FileNotFoundError:
        return False
    except Exception as exc:  # any unusable file: start empty, the demo is seeded again
        print(f"Ignoring the saved emulator state {path} ({type(exc).__name__}: {exc}).", file=sys.stderr, flush=True)
        return False
    for name in STATE_SERVICES:
        backend = get_backend(name)  # type: ignore[arg-type]
        backend.clear()
        backend.update(state.get(name, {}))
    return True


def _make_server(host: str, port: int) -> Any:
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    _quiet_werkzeug()
    # Bound here rather than by werkzeug, which prints and exits the process on a taken port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise EmulatorError(_port_taken_message(host, port)) from exc
    try:
        bound_port = sock.getsockname()[1]
        return make_server(
            host, bound_port, _EmulatorApp(), threaded=True, request_handler=QuietHandler, fd=sock.fileno()
        )
    finally:
        sock.close()


@dataclass
class Emulator:
    """A running in-process emulator; `url` is what AWS_ENDPOINT_URL should be."""

    host: str
    port: int
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def start_threaded(port: int = 0, *, host: str = DEFAULT_HOST) -> Emulator:
    """Serve the emulator from a daemon thread; port 0 lets the OS choose a free one."""
    server = _make_server(host, port)
    thread = threading.Thread(target=server.serve_forever, name=f"aws-emulator-{port}", daemon=True)
    thread.start()
    emulator = Emulator(host=host, port=server.server_address[1], _server=server, _thread=thread)
    wait_until_ready(emulator.url)
    return emulator


def is_running(url: str) -> bool:
    """Whether an emulator answers at `url` (anything else there, or nothing, is False)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + READY_PATH, timeout=2) as response:  # noqa: S310
            return json.loads(response.read()).get("emulator") == "ready"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_ready(url: str, *, timeout: float = 30, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EmulatorError(f"The AWS emulator exited during start-up (exit code {process.returncode}).")
        if is_running(url):
            return
        time.sleep(0.1)
    raise EmulatorError(f"The AWS emulator did not answer at {url} within {timeout:.0f} s.")


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_subprocess(
    port: int,
    *,
    host: str = DEFAULT_HOST,
    timeout: float = 30,
    env: dict[str, str] | None = None,
    state: Path | None = None,
    **popen_kwargs: Any,
) -> subprocess.Popen:
    """Run the emulator as a child process and return once it answers.

    Raises EmulatorError naming the port when another process holds it, or when the child exits or
    stays silent. The caller owns the returned process and stops it (terminate/wait).
    """
    if not _port_is_free(host, port):
        raise EmulatorError(_port_taken_message(host, port))
    args = [sys.executable, "-m", "governance.aws.emulator", "--host", host, "--port", str(port)]
    if state is not None:
        args += ["--state", str(state)]
    popen_kwargs.setdefault("cwd", PROJECT_ROOT)
    process = subprocess.Popen(args, env=env, **popen_kwargs)
    try:
        wait_until_ready(f"http://{host}:{port}", timeout=timeout, process=process)
    except EmulatorError:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        raise
    return process


def _post(url: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(payload or {}).encode()
    request = urllib.request.Request(  # noqa: S310 - the caller's emulator URL
        url.rstrip("/") + path, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise EmulatorError(f"The AWS emulator at {url} refused {path}: {exc.read().decode(errors='replace')}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise EmulatorError(f"The AWS emulator at {url} cannot be reached ({exc}).") from exc
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def reset(url: str) -> None:
    """Forget everything the emulator holds."""
    _post(url, "/moto-api/reset")


def seed(url: str, value: int) -> None:
    """Make the emulator's generated ids (accounts, keys, ...) reproducible from here on."""
    _post(url, f"/moto-api/seed?a={int(value)}")


def backdate(url: str, items: list[dict[str, Any]]) -> int:
    """Move recorded dates into the past, one item per user or role (keys: see `_backdate`).

    Returns how many dates changed.
    """
    if not items:
        return 0
    return int(_post(url, BACKDATE_PATH, {"items": items}).get("changed", 0))


def throttle(url: str, *, every: int) -> dict[str, int]:
    """Answer every `every`th AWS request with a throttling error from now on (0: never); returns the
    previous setting's figures (`requests`, `throttled`)."""
    return _post(url, THROTTLE_PATH, {"every": every})


def is_loopback_url(url: str) -> bool:
    """Whether `url` names this machine. portal/settings.py imports it: keep this module's imports stdlib-only."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m governance.aws.emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=int(os.environ.get("EMULATOR_PORT", "5055")))
    parser.add_argument("--state", type=Path, help="start from this saved state and save it here on stopping")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        server = _make_server(args.host, args.port)
    except EmulatorError as exc:
        print(exc, file=sys.stderr, flush=True)
        return 2
    if args.state is not None and load_state(args.state):
        print(f"AWS emulator restored its state from {args.state}", flush=True)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupt)
    print(f"AWS emulator listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the save short
        server.server_close()
        if args.state is not None:
            save_state(args.state)
    return 0


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
