"""The demo identity provider: a real OpenID Connect server for `make run` and the tests.

It is oidc-provider-mock (authorization code flow, discovery, JWKS, userinfo, signed ID tokens)
with the demo personas as its users and a sign-in page where one picks a persona and says
whether they used MFA. The answer becomes the `amr` claim (`["pwd", "mfa"]` or `["pwd"]`) of
that login's ID token and userinfo, so the portal's step-up rules can be exercised end to end.

Like a real IdP it keeps a sign-in session (a cookie of its own): the next authorization request
offers "continue without signing in again" next to the personas, and a login continued that way
carries the original `auth_time`. When the client sends `prompt=login`, or a `max_age` the
session is older than (the portal's MFA step-up sends both), the session is not offered and
someone must choose again; that new sign-in is the ID token's `auth_time`. (oidc-provider-mock
itself keeps no session and would stamp `auth_time` with the token's issue time.)

The portal's client is registered up front and its secret is checked at the token endpoint,
so wrong client credentials fail here the way they fail at a real IdP. Like a careful IdP it
also insists on the protections a client should use: every authorization request must carry a
`nonce` (one never seen before; the mock alone would accept a reused one) and a PKCE
`code_challenge` with the S256 method, and the token request must carry its `code_verifier`.
A portal that stopped sending either would fail against the demo, not only in production.

    python -m portal.demo_idp --port 9400

Never part of production: it refuses to start when PORTAL_ENV is production.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import flask
import jinja2
import werkzeug.debug
import werkzeug.serving

from governance.aws.demo.personas import PERSONAS, Persona

with warnings.catch_warnings():
    # authlib warns about its own deprecated modules on import; nothing here uses them directly.
    warnings.simplefilter("ignore")
    from authlib.oauth2.rfc6749 import InvalidRequestError
    from authlib.oauth2.rfc7636 import CodeChallenge
    from oidc_provider_mock import User
    from oidc_provider_mock import app as mock_app
    from oidc_provider_mock._app import AuthorizationCodeGrant
    from oidc_provider_mock._storage import AuthorizationCode, Client, ClientAllowAny, Storage

DEFAULT_CLIENT_ID = "governance-portal-demo"
DEFAULT_CLIENT_SECRET = "demo-only-not-a-secret"  # noqa: S105 - a published demo value, refused in production
AMR_WITH_MFA = ["pwd", "mfa"]
AMR_WITHOUT_MFA = ["pwd"]
SESSION_LOGIN = "demo_idp_login"
SESSION_COOKIE = "demo_idp_session"  # not Flask's "session": cookies are shared across loopback ports

_AUTHORIZE_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Demo identity provider · sign in</title>
<style>
 body { font: 15px/1.5 system-ui, sans-serif; color: #1d2433; background: #eef1f6; margin: 0; }
 main { max-width: 560px; margin: 3rem auto; background: #fff; border: 1px solid #d9dee7;
        border-radius: 6px; padding: 1.5rem 2rem; }
 h1 { font-size: 20px; margin-top: 0; } .muted { color: #5b6474; font-size: 13px; }
 .personas { display: grid; gap: .5rem; margin: 1rem 0; }
 .personas button { text-align: left; padding: .55rem .8rem; border: 1px solid #b8c3d6; border-radius: 4px;
                    background: #f8f9fc; font: inherit; cursor: pointer; }
 .personas button:hover { border-color: #2450a6; background: #eef3fd; }
 .role { color: #5b6474; font-size: 13px; } .other { display: flex; gap: .5rem; margin-top: .5rem; }
 .other input[type=text] { flex: 1; padding: .4rem; font: inherit; }
 .deny { background: none; border: none; color: #a3261b; text-decoration: underline; cursor: pointer; padding: 0; }
 .error { color: #a3261b; }
 .again { border: 1px solid #b8c3d6; border-radius: 4px; background: #f8f9fc; padding: .5rem .8rem; }
 .again p { margin: 0 0 .4rem; }
</style>
</head>
<body>
<main>
  <h1>Demo identity provider</h1>
  <p class="muted">Signing in to <code>{{ client_id }}</code>. This IdP exists for the demo and the tests;
  it asks for no password. The portal decides what you may do from AWS, not from anything said here.</p>
  {% if session_login %}
  <form method="post" class="again" id="continue-session">
    <input type="hidden" name="sub" value="{{ session_login.sub }}">
    <input type="hidden" name="reuse" value="1">
    <p>You are signed in here as <strong>{{ session_login.sub }}</strong> since {{ session_login.since }}
      ({{ "with" if session_login.mfa else "without" }} MFA).</p>
    <button type="submit">Continue without signing in again</button>
  </form>
  {% elif reauthenticate %}
  <p class="again" id="sign-in-again"><code>{{ client_id }}</code> asks you to sign in again: choose who you are,
    even if it is the same person as before.</p>
  {% endif %}
  <form method="post">
    <label><input type="checkbox" name="mfa" value="1" checked> Signed in with MFA
      <span class="muted">(sets the <code>amr</code> claim)</span></label>
    <div class="personas" role="group" aria-label="Personas">
    {% for persona in personas %}
      <button type="submit" name="sub" value="{{ persona.user_name }}">
        <strong>{{ persona.display_name }}</strong> · {{ persona.user_name }}
        <span class="role">{{ persona.role }}</span>
      </button>
    {% endfor %}
    </div>
  </form>
  <form method="post">
    <label for="sub">Someone else (a user name that is also their e-mail address)</label>
    {% if sub_missing %}<p class="error" id="sub-missing">Enter a user name.</p>{% endif %}
    <div class="other">
      <input type="text" id="sub" name="sub" placeholder="user name" required>
      <label><input type="checkbox" name="mfa" value="1" checked> MFA</label>
      <button type="submit">Sign in</button>
    </div>
  </form>
  <form method="post">
    <p><button type="submit" name="action" value="deny" class="deny">Cancel and return to the portal</button></p>
  </form>
  <p class="muted">You will be sent back to {{ redirect_uri }}</p>
</main>
</body>
</html>
"""


def persona_claims(persona: Persona) -> dict[str, object]:
    """The claims the demo IdP asserts for a persona (before the per-login `amr`)."""
    return {
        "email": persona.email,
        "email_verified": True,
        "given_name": persona.given_name,
        "family_name": persona.family_name,
        "name": persona.display_name,
        "preferred_username": persona.user_name,
        **persona.extra_claims,
    }


def must_sign_in_again(args: Mapping[str, str], auth_time: int, now: float) -> bool:
    """Whether an authorization request refuses a sign-in made at `auth_time` (OIDC Core 3.1.2.1).

    `prompt=login` always does; so does a `max_age` the sign-in is older than. `max_age=0` (what
    the portal's step-up sends) or one that is not a whole number asks for a new sign-in.
    """
    if "login" in (args.get("prompt") or "").split():
        return True
    max_age = args.get("max_age")
    if max_age is None or max_age == "":
        return False
    try:
        seconds = int(max_age)
    except ValueError:
        return True
    return seconds <= 0 or now - auth_time > seconds


def _session_login() -> dict[str, Any] | None:
    login = flask.session.get(SESSION_LOGIN)
    if not isinstance(login, dict) or not isinstance(login.get("sub"), str) or not login["sub"]:
        return None
    if not isinstance(login.get("auth_time"), int) or not isinstance(login.get("amr"), list):
        return None
    return login


def create_app(
    *,
    clients: Mapping[str, str] | None = None,
    personas: Iterable[Persona] = PERSONAS,
    clock: Callable[[], float] = time.time,
) -> flask.Flask:
    """The demo IdP as a WSGI app.

    `clients` maps client ids to secrets; only those clients may sign in, and the token endpoint
    checks their secrets. Without it, every client id and secret is accepted. `clock` is when a
    sign-in happens (its `auth_time`); tests move it to make a sign-in old.
    """
    # authlib refuses plain http unless told otherwise; the demo IdP only listens on loopback.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    personas = tuple(personas)
    app = mock_app(
        require_client_registration=clients is not None,
        require_nonce=True,
        user_claims=[User(sub=p.user_name, claims=persona_claims(p)) for p in personas],
    )
    # The mock turns on Werkzeug's interactive debugger; a sign-in page must not offer a console.
    app.debug = False
    if isinstance(app.wsgi_app, werkzeug.debug.DebuggedApplication):
        app.wsgi_app = app.wsgi_app.app
    app.jinja_loader = jinja2.ChoiceLoader(
        [jinja2.DictLoader({"authorization_form.html": _AUTHORIZE_PAGE}), app.jinja_loader]
    )
    app.config.update(SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_SAMESITE="Lax")

    def reusable_login() -> dict[str, Any] | None:
        """This browser's sign-in, when the current authorization request accepts it."""
        login = _session_login()
        if login is None or must_sign_in_again(flask.request.args, login["auth_time"], clock()):
            return None
        return login

    @app.context_processor
    def _page_context():
        context: dict[str, object] = {"personas": personas}
        if flask.request.endpoint == "oidc-provider-mock.authorize":
            login = reusable_login()
            if login is not None:
                since = datetime.fromtimestamp(login["auth_time"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                context["session_login"] = {"sub": login["sub"], "since": since, "mfa": "mfa" in login["amr"]}
            context["reauthenticate"] = login is None and _session_login() is not None
        return context

    @app.before_request
    def _record_sign_in():
        # Runs after the mock's own hook has bound its storage to flask.g. The mock puts every
        # claim of the stored user into the ID token, so this login's `amr` and `auth_time` are
        # written onto the user just before the mock issues the code.
        if flask.request.endpoint == "oidc-provider-mock.end_session_confirm":
            flask.session.pop(SESSION_LOGIN, None)
            return None
        if flask.request.method != "POST" or flask.request.endpoint != "oidc-provider-mock.authorize":
            return None
        sub = flask.request.form.get("sub")
        if not sub or flask.request.form.get("action") == "deny":
            return None
        if flask.request.form.get("reuse"):
            login = reusable_login()
            if login is None or login["sub"] != sub:
                # The session expired, or the client asked for a new sign-in: the page again.
                return flask.redirect(flask.request.url, code=303)
            amr, auth_time = login["amr"], login["auth_time"]
        else:
            amr = AMR_WITH_MFA if flask.request.form.get("mfa") else AMR_WITHOUT_MFA
            auth_time = int(clock())
            flask.session[SESSION_LOGIN] = {"sub": sub, "amr": amr, "auth_time": auth_time}
        storage = flask.g.oidc_provider_mock_storage
        user = storage.get_user(sub)
        claims = dict(user.claims) if user else {"email": sub}
        claims["amr"] = list(amr)
        claims["auth_time"] = auth_time
        storage.store_user(User(sub=sub, claims=claims))
        return None

    with app.test_request_context("/"):
        app.preprocess_request()
        storage = flask.g.oidc_provider_mock_storage
        server = flask.g._authlib_authorization_server
    _require_pkce_and_fresh_nonces(app, storage, server)

    for client_id, secret in (clients or {}).items():
        storage.store_client(
            Client(
                id=client_id,
                secret=secret,
                redirect_uris=ClientAllowAny(),
                allowed_scopes=Client.SCOPES_SUPPORTED,
                token_endpoint_auth_method=ClientAllowAny(),
            )
        )
    return app


class _RequiredS256Challenge(CodeChallenge):
    """PKCE as the demo IdP enforces it: required on every authorization request, S256 only.

    The mock's authorization codes have no field for the challenge, so it is kept here by code.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def __init__(self, challenges: dict[str, tuple[str, str]]):
        super().__init__(required=True)
        self._challenges = challenges

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("This IdP requires PKCE: send a 'code_challenge' (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("This IdP requires PKCE with code_challenge_method=S256.")
        super().validate_code_challenge(grant, redirect_uri)
        flask.g.demo_idp_pkce = (data["code_challenge"], "S256")

    def get_authorization_code_challenge(self, authorization_code):
        return self._challenges.get(authorization_code.code, ("", ""))[0] or None

    def get_authorization_code_challenge_method(self, authorization_code):
        return self._challenges.get(authorization_code.code, ("", ""))[1] or None


def _require_pkce_and_fresh_nonces(app: flask.Flask, storage: Storage, server: Any) -> None:
    """Adds PKCE (S256, required) to the mock's code grant and remembers every nonce it issued a
    code for, so that authlib's replay check (`exists_nonce`) refuses a nonce used before."""
    challenges: dict[str, tuple[str, str]] = {}
    for grant_cls, extensions in server._authorization_grants:
        if grant_cls is AuthorizationCodeGrant:
            # The same list serves the token endpoint, so the verifier is checked there too.
            extensions.append(_RequiredS256Challenge(challenges))

    store_code, remove_code = storage.store_authorization_code, storage.remove_authorization_code

    def store_authorization_code(code: AuthorizationCode) -> None:
        challenges[code.code] = getattr(flask.g, "demo_idp_pkce", ("", ""))
        if code.nonce:
            storage.add_nonce(code.nonce)
        store_code(code)

    def remove_authorization_code(code: str) -> AuthorizationCode | None:
        challenges.pop(code, None)
        return remove_code(code)

    storage.store_authorization_code = store_authorization_code  # type: ignore[method-assign]
    storage.remove_authorization_code = remove_authorization_code  # type: ignore[method-assign]

    @app.after_request
    def _advertise_pkce(response: flask.Response) -> flask.Response:
        if flask.request.endpoint == "oidc-provider-mock.openid_config" and response.is_json:
            config = response.get_json()
            config["code_challenge_methods_supported"] = ["S256"]
            response.set_data(flask.json.dumps(config))
        return response


def make_server(host: str, port: int, app: flask.Flask) -> werkzeug.serving.BaseWSGIServer:
    """A threaded server on host:port (0 picks a free port).

    The socket is bound here, so a port in use is an OSError the caller can explain; Werkzeug
    would print its own message and exit.
    """
    sock = socket.create_server((host, port))
    try:
        return werkzeug.serving.make_server(host, port, app, threaded=True, fd=sock.fileno())
    finally:
        sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.demo_idp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9400, help="port to listen on (default 9400)")
    parser.add_argument("--client-id", default=os.environ.get("DEMO_IDP_CLIENT_ID", DEFAULT_CLIENT_ID))
    parser.add_argument("--client-secret", default=os.environ.get("DEMO_IDP_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET)
    args = parser.parse_args(argv)

    if os.environ.get("PORTAL_ENV", "").strip() == "production":
        print("The demo identity provider never runs in production (PORTAL_ENV=production).", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"--port must be between 0 and 65535; got {args.port}.", file=sys.stderr)
        return 2

    app = create_app(clients={args.client_id: args.client_secret})
    try:
        server = make_server(args.host, args.port, app)
    except OSError as exc:
        print(
            f"The demo identity provider cannot listen on {args.host}:{args.port}: {exc.strerror or exc}. "
            "Another process probably holds the port; stop it or choose another with --port "
            "(make run: DEMO_IDP_PORT=...).",
            file=sys.stderr,
        )
        return 1

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    url = f"http://{args.host}:{server.socket.getsockname()[1]}"
    print(f"Demo identity provider at {url} (issuer {url}, client id {args.client_id})", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
