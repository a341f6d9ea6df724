"""Settings for the governance portal, read from the environment in one place.

`PORTAL_ENV` chooses the mode: `development` (the default: SQLite, the local AWS emulator and the
demo identity provider) or `production` (every required setting must be given; nothing falls back
to the emulator or the demo IdP). README.md lists every variable.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

# The emulator module imports only the standard library at import time, so settings may use its check.
from governance.aws.emulator import is_loopback_url
from portal.env import env_bool, env_choice, env_int, env_json, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

PORTAL_ENV = env_choice("PORTAL_ENV", ("development", "production"), "development")
PRODUCTION = PORTAL_ENV == "production"

DEV_SECRET_KEY = "development-only-key-never-use-in-production-" + "x" * 16

SECRET_KEY = env_str("SECRET_KEY", "" if PRODUCTION else DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])


if PRODUCTION:
    problems = []
    if DEBUG:
        problems.append("DEBUG must be false in production")
    if not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY must be set to a random value of at least 50 characters")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must list the portal's host names")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems) + ".")

INSTALLED_APPS = [
    "governance.authz.admin_config.GovernanceAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "csp",
    "django_htmx",
    "portal",  # before django_q: its qcluster command runs the system checks (portal/startup.py)
    "django_q",
    "governance.aws",
    "governance.audit",
    "governance.authz",
    "governance.inventory",
    "governance.findings",
    "governance.evidence",
    "governance.scp",
    "governance.jit",
    "governance.ops",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "governance.api",
    "governance.notify",
    "governance.reviews",
    "governance.signals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.RequestIdMiddleware",
    "portal.middleware.RejectNulMiddleware",
    "portal.middleware.HostHeaderMiddleware",
    "governance.ops.middleware.AccessMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.SessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
                "governance.authz.context_processors.authz",
            ],
            # `|reveal` in every template, the admin's included (AWS-sourced text, see its module).
            "builtins": ["governance.inventory.templatetags.aws_text"],
        },
    },
]

# Database -------------------------------------------------------------------------------------

if PRODUCTION:
    DATABASE_URL = env_str("DATABASE_URL")
else:
    DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL ({exc}).") from None
if PRODUCTION and _db["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production.")
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
_db["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "") or None}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Authentication: only through an external identity provider -----------------------------------

AUTH_USER_MODEL = "authz.User"
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

SOCIALACCOUNT_ONLY = True
ACCOUNT_EMAIL_VERIFICATION = "none"
# A portal user is one IdP identity; e-mail addresses are not unique (an unverified address must
# not lock its real owner out) and link to AWS only where the IdP vouches for them (authz/linking.py).
ACCOUNT_UNIQUE_EMAIL = False
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*"]
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_ADAPTER = "portal.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "portal.adapters.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = env_int("IDP_TIMEOUT_SECONDS", 10, minimum=1)

DEMO_IDP_URL = "" if PRODUCTION else env_str("DEMO_IDP_URL", "http://127.0.0.1:9400")
DEMO_IDP_CLIENT_ID = "governance-portal-demo"


def _link_settings(prefix: str) -> dict:
    """Per provider, what links a sign-in to an Identity Center user (governance/authz/linking.py)."""
    linking = {}
    if claim := env_str(prefix + "LINK_CLAIM", ""):
        linking["link_claim"] = claim
        linking["link_issuer"] = env_str(prefix + "LINK_ISSUER")
    if env_bool(prefix + "EMAILS_VERIFIED", False):
        linking["emails_verified"] = True
    return linking


def _oidc_apps() -> list[dict]:
    apps = []
    for provider_id in env_list("OIDC_PROVIDERS", []):
        prefix = f"OIDC_{provider_id.upper().replace('-', '_')}_"
        apps.append(
            {
                "provider_id": provider_id,
                "name": env_str(prefix + "NAME", provider_id.title()),
                "client_id": env_str(prefix + "CLIENT_ID"),
                "secret": env_str(prefix + "CLIENT_SECRET"),
                "settings": {
                    "server_url": env_str(prefix + "ISSUER"),
                    "token_auth_method": env_str(prefix + "TOKEN_AUTH_METHOD", "client_secret_basic"),
                    "oauth_pkce_enabled": True,
                    **_link_settings(prefix),
                },
            }
        )
    if DEMO_IDP_URL:
        apps.append(
            {
                "provider_id": "demo",
                "name": "Demo identity provider",
                "client_id": DEMO_IDP_CLIENT_ID,
                "secret": env_str("DEMO_IDP_CLIENT_SECRET", "demo-only-not-a-secret"),
                "settings": {"server_url": DEMO_IDP_URL, "oauth_pkce_enabled": True},
            }
        )
    return apps


def _saml_apps() -> list[dict]:
    apps = []
    for provider_id in env_list("SAML_PROVIDERS", []):
        prefix = f"SAML_{provider_id.upper().replace('-', '_')}_"
        apps.append(
            {
                "provider_id": provider_id,
                "client_id": provider_id,
                "name": env_str(prefix + "NAME", provider_id.title()),
                "settings": {
                    "attribute_mapping": {
                        "uid": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
                        "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                        "email_verified": "email_verified",
                        "first_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
                        "last_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
                    },
                    "idp": {
                        "entity_id": env_str(prefix + "ENTITY_ID"),
                        "metadata_url": env_str(prefix + "METADATA_URL"),
                    },
                    "advanced": {
                        "want_assertion_signed": True,
                        "want_message_signed": False,
                        "reject_deprecated_algorithm": True,
                    },
                    **_link_settings(prefix),
                },
            }
        )
    return apps


SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {"APPS": _oidc_apps(), "OAUTH_PKCE_ENABLED": True},
    "saml": {"APPS": _saml_apps()},
}
if PRODUCTION and not (SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] or SOCIALACCOUNT_PROVIDERS["saml"]["APPS"]):
    raise ImproperlyConfigured("Refusing to start in production: set OIDC_PROVIDERS or SAML_PROVIDERS.")

# Sessions, cookies and security headers --------------------------------------------------------

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_MINUTES", 30, minimum=1) * 60
SESSION_ABSOLUTE_TIMEOUT = env_int("SESSION_ABSOLUTE_HOURS", 12, minimum=1) * 3600
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", PRODUCTION) else None
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"


def _idp_origins() -> list[str]:
    origins = set()
    for app in SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]:
        parts = urlsplit(app["settings"]["server_url"])
        origins.add(f"{parts.scheme}://{parts.netloc}")
    for app in SOCIALACCOUNT_PROVIDERS["saml"]["APPS"]:
        parts = urlsplit(app["settings"]["idp"]["metadata_url"])
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origins)


# The login form posts to our own URL, which redirects to the IdP; browsers apply form-action to
# that redirect, so the IdPs' origins are allowed there and nowhere else.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF, *_idp_origins()],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# Internationalisation and static files ---------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
WHITENOISE_USE_FINDERS = DEBUG
# Both follow this file's DEBUG: when DEBUG is turned off afterwards (the test runner does), WhiteNoise
# would otherwise read every app's static files again for each new handler, each test's client.
WHITENOISE_AUTOREFRESH = DEBUG
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Signing ----------------------------------------------------------------------------------------

# An Ed25519 private key (PKCS#8 PEM) signs the audit trail's checkpoints and the evidence
# manifests: the one thing a database owner cannot forge. Development generates one in var/ on first
# use; production must be given one (a system check says so). Retired keys stay verifiable through
# their public keys: "id=/path/to/public.pem", comma-separated.
SIGNING_KEY_FILE = env_str("SIGNING_KEY_FILE", "" if PRODUCTION else str(VAR_DIR / "signing-key.pem"))
SIGNING_KEY_ID = env_str("SIGNING_KEY_ID", "")
SIGNING_RETIRED_KEYS = env_list("SIGNING_RETIRED_KEYS", [])
AUDIT_CHECKPOINT_MAX_AGE_HOURS = env_int("AUDIT_CHECKPOINT_MAX_AGE_HOURS", 2, minimum=1)

# Evidence packages are kept under EVIDENCE_DIR, or in S3 under Object Lock when a bucket is named
# (the bucket must have Object Lock enabled; the portal's credentials need s3:PutObject,
# s3:PutObjectRetention, s3:GetObject and s3:GetObjectRetention on it).
EVIDENCE_DIR = env_str("EVIDENCE_DIR", str(VAR_DIR / "evidence"))
EVIDENCE_S3_BUCKET = env_str("EVIDENCE_S3_BUCKET", "")
EVIDENCE_S3_PREFIX = env_str("EVIDENCE_S3_PREFIX", "evidence/")
EVIDENCE_S3_LOCK_MODE = env_choice("EVIDENCE_S3_LOCK_MODE", ("COMPLIANCE", "GOVERNANCE"), "COMPLIANCE")
EVIDENCE_RETENTION_DAYS = env_int("EVIDENCE_RETENTION_DAYS", 2557, minimum=1)

# A compliance control that needs access reviews passes on an account while a campaign that covered
# it was closed this recently with every item of the account decided (100: quarterly reviews pass).
ACCESS_REVIEW_MAX_AGE_DAYS = env_int("ACCESS_REVIEW_MAX_AGE_DAYS", 100, minimum=1)

# AWS --------------------------------------------------------------------------------------------

AWS_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL", "")
if PRODUCTION and AWS_ENDPOINT_URL and is_loopback_url(AWS_ENDPOINT_URL):
    raise ImproperlyConfigured("AWS_ENDPOINT_URL points at a local emulator; production never uses it.")
AWS_REGION = env_str("AWS_REGION", "us-east-1")
AWS_MEMBER_ROLE_NAME = env_str("AWS_MEMBER_ROLE_NAME", "GovernancePortalReadRole")
AWS_MEMBER_EXTERNAL_ID = env_str("AWS_MEMBER_EXTERNAL_ID", "")
AWS_WRITER_ROLE_NAME = env_str("AWS_WRITER_ROLE_NAME", "GovernancePortalWriterRole")
AWS_GOVERNANCE_ACCOUNT_ID = env_str("AWS_GOVERNANCE_ACCOUNT_ID", "")
AWS_MAX_ATTEMPTS = env_int("AWS_MAX_ATTEMPTS", 5, minimum=1)
AWS_SYNC_WORKERS = env_int("AWS_SYNC_WORKERS", 8, minimum=1)

# AWS's own signals (governance/signals): Access Analyzer, CloudTrail, service last accessed, Config.
SIGNALS_LAST_ACCESSED_CALLS_PER_MINUTE = env_int("SIGNALS_LAST_ACCESSED_CALLS_PER_MINUTE", 30, minimum=1)
SIGNALS_LAST_ACCESSED_REFRESH_DAYS = env_int("SIGNALS_LAST_ACCESSED_REFRESH_DAYS", 7, minimum=1)
SIGNALS_ACTIVITY_LOOKBACK_DAYS = env_int("SIGNALS_ACTIVITY_LOOKBACK_DAYS", 7, minimum=1)
SIGNALS_ACTIVITY_MAX_PAGES = env_int("SIGNALS_ACTIVITY_MAX_PAGES", 20, minimum=1)
SIGNALS_ANALYZER_DETAIL_CALLS = env_int("SIGNALS_ANALYZER_DETAIL_CALLS", 100, minimum=0)
SIGNALS_RECHECK_UNAVAILABLE_HOURS = env_int("SIGNALS_RECHECK_UNAVAILABLE_HOURS", 6, minimum=0)

# Authorization: portal roles come from AWS (governance/authz); nothing from IdP claims -----------

# Permission-set name on the governance account -> portal role (auditor, policy_admin, campaign_admin).
GOVERNANCE_ROLE_MAP = env_json(
    "GOVERNANCE_ROLE_MAP",
    {
        "GovernanceAuditor": "auditor",
        "GovernancePolicyAdmin": "policy_admin",
        "GovernanceAccessAdmin": "campaign_admin",
    },
)
JIT_REQUESTERS_GROUP = env_str("JIT_REQUESTERS_GROUP", "jit-requesters")
JIT_APPROVERS_GROUP = env_str("JIT_APPROVERS_GROUP", "jit-approvers")
MFA_STEP_UP_MINUTES = env_int("MFA_STEP_UP_MINUTES", 15, minimum=1)
BREAK_GLASS_ENABLED = env_bool("BREAK_GLASS_ENABLED", False)

# Background tasks (django-q2 on the ORM broker) -------------------------------------------------

Q_CLUSTER = {
    "name": "governance",
    "orm": "default",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": env_int("Q_TIMEOUT_SECONDS", 1800, minimum=1),
    "retry": env_int("Q_RETRY_SECONDS", 2100, minimum=2),
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 3, minimum=1),
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Background tasks",
}
if Q_CLUSTER["timeout"] >= Q_CLUSTER["retry"]:
    raise ImproperlyConfigured("Q_TIMEOUT_SECONDS must be smaller than Q_RETRY_SECONDS.")

# REST API (governance/api) -----------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["governance.api.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IAM governance portal API",
    "DESCRIPTION": "Token-authenticated; what a token may do comes from its user's AWS entitlements.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "ReviewItemKindEnum": "governance.reviews.models.ItemKind",
        "ChangeKindEnum": "governance.scp.models.ChangeKind",
        "AccessRequestKindEnum": "governance.jit.models.RequestKind",
    },
}
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 90, minimum=1)
API_TOKENS_PER_USER = env_int("API_TOKENS_PER_USER", 10, minimum=1)

# Health and metrics (governance/ops) -------------------------------------------------------------

HEALTH_SYNC_MAX_AGE_HOURS = env_int("HEALTH_SYNC_MAX_AGE_HOURS", 26, minimum=1)
HEALTH_QUEUE_MAX_WAIT_MINUTES = env_int("HEALTH_QUEUE_MAX_WAIT_MINUTES", 15, minimum=1)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# One JSON line per request with its request id (runserver prints its own lines in development).
ACCESS_LOG = env_bool("ACCESS_LOG", PRODUCTION)

# Notifications (governance/notify) ----------------------------------------------------------------

# The demo prints e-mail to the console; production sends through SMTP unless told otherwise.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "governance-portal@localhost")
# Links in messages point here (no trailing slash); production defaults to https:// and the first host.
PORTAL_BASE_URL = env_str(
    "PORTAL_BASE_URL",
    f"https://{ALLOWED_HOSTS[0]}" if PRODUCTION and ALLOWED_HOSTS else "http://127.0.0.1:8000",
).rstrip("/")
NOTIFY_CHANNELS = env_list("NOTIFY_CHANNELS", ["email"])
# Slack and Teams webhooks by name: {"name": {"kind": "slack"|"teams", "url": ..., "events": [patterns]}}.
NOTIFY_WEBHOOKS = env_json("NOTIFY_WEBHOOKS", {})
# Deliver in the committing process instead of through the task queue (tests, single-process demos).
NOTIFY_DELIVER_INLINE = env_bool("NOTIFY_DELIVER_INLINE", False)

# Logging ----------------------------------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": "portal.logconfig.formatter",
            "json": env_bool("LOG_JSON", PRODUCTION),
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # WeasyPrint (evidence summary.pdf) reports each layout step and fontTools each subset table at INFO.
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
