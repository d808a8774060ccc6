"""One settings module for every environment, driven by environment variables (see .env.example).

No variables at all → the embedded demo: SQLite, local-memory cache, in-memory channel layer, Celery
eager, and a simulated price feed running inside the web process. `DATABASE_URL` + `REDIS_URL` →
production wiring: PostgreSQL (psycopg 3) and Redis for cache, sessions, channel layer, Celery broker
and the price bus. Business code never asks which mode it is in; only this file does.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from tradingsite.lib import logs
from tradingsite.lib.aredis import ASYNC_RETRY_ONCE, RETRY_ONCE
from tradingsite.lib.env import (
    env_bool,
    env_choice,
    env_decimal,
    env_int,
    env_list,
    env_required,
    env_str,
)

# Generic classes as the type checker sees them (ModelAdmin[Symbol]) also work at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")) or BASE_DIR / "var")

DATABASE_URL = env_str("DATABASE_URL")
# A streaming replica of DATABASE_URL: reads that tolerate a little lag (trade history, CSV export,
# reports) go there (tradingsite/db.py); everything else stays on the primary.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
REDIS_URL = env_str("REDIS_URL")
# Redis roles, each its own server if wanted; every one defaults to REDIS_URL. The price bus (prices,
# feed state) and the channel layer (user and session groups: fills, force-logout), the latter
# sharded over several servers as channels-redis does it (consistent hashing of channel and group
# names); sessions, cache, rate limits and the socket registry; Celery's broker (CELERY_BROKER_URL).
PRICE_REDIS_URL = env_str("PRICE_REDIS_URL") or REDIS_URL
CHANNEL_REDIS_URLS = env_list("CHANNEL_REDIS_URLS", []) or ([PRICE_REDIS_URL] if PRICE_REDIS_URL else [])
SESSION_REDIS_URL = env_str("SESSION_REDIS_URL") or REDIS_URL
if bool(DATABASE_URL) != bool(REDIS_URL):
    missing = "REDIS_URL" if DATABASE_URL else "DATABASE_URL"
    raise ImproperlyConfigured(
        f"{missing} is not set: production wiring needs both DATABASE_URL and REDIS_URL; "
        "set neither for the embedded demo"
    )
EMBEDDED = DATABASE_URL is None


def _embedded_secret_key() -> str:
    """A random key kept in var/ so embedded sessions survive a restart; never used in production."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


if EMBEDDED:
    SECRET_KEY = env_str("SECRET_KEY") or _embedded_secret_key()
else:
    SECRET_KEY = env_required("SECRET_KEY", "production wiring never falls back to a default key")
DEBUG = env_bool("DEBUG", False)

_LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", _LOCAL_HOSTS if EMBEDDED else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is empty: list the host names this site answers to")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # must precede staticfiles: its runserver serves ASGI (HTTP + WebSocket)
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "pricefeed",
    "portfolio",
]

MIDDLEWARE = [
    "tradingsite.lib.logs.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "tradingsite.middleware.NulCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accounts.middleware.DeviceSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# A trading API request with a bearer token (tradingsite/handlers.py) goes through this shorter
# chain: no static files, cookie session, CSRF (a bearer request is never a cross-site one), Django's
# user (DRF authenticates it) or messages. None: every request takes MIDDLEWARE.
BEARER_API_MIDDLEWARE: list[str] | None = [
    "tradingsite.lib.logs.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "tradingsite.middleware.NulCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# The reads API clients poll (the portfolio, the newest trades) answered without that chain, the URL
# resolver and DRF, with the chain's effects (tradingsite/hotpath.py); off: they take the chain.
HOT_PATH = env_bool("HOT_PATH", True)

# Every request body (API JSON, page forms) is small: a larger one is refused with 413 before it is
# read (tradingsite.middleware.BodyLimitMiddleware).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

ROOT_URLCONF = "tradingsite.urls"
ASGI_APPLICATION = "tradingsite.asgi.application"
WSGI_APPLICATION = None

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
                "pricefeed.context_processors.price_feed",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------

DATABASES: dict[str, dict[str, Any]]
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 3, minimum=1)
# Seconds after which a PostgreSQL server gone silently (its host lost, a partition, a failed-over
# primary's address) ends our connections to it: keepalive probes on an idle connection and a bound on
# unacknowledged data (TCP_USER_TIMEOUT). Without them the pool hands such a connection out (no
# readable socket: nothing to see) and its query waits for TCP's retransmissions, ~15 minutes on Linux.
DATABASE_DEAD_PEER_SECONDS = env_int("DATABASE_DEAD_PEER_SECONDS", 10, minimum=3)


def _dead_peer_options(seconds: int) -> dict[str, int]:
    """libpq's TCP options that end a connection whose peer has said nothing for `seconds`: keepalive
    probes once it has been idle a third of that, one a second; with TCP_USER_TIMEOUT set, Linux ends
    the connection when `seconds` pass with probes or data unanswered. A live server's kernel answers
    both at once, so a long query on a live server is never cut."""
    return {
        "keepalives": 1,
        "keepalives_idle": max(1, seconds // 3),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": seconds * 1000,
    }


def _postgres(url: str, name: str) -> dict[str, Any]:
    """A connection pool, not persistent connections: under ASGI each request's sync code runs in a
    thread of its own, so per-thread persistent connections would be opened per request and leak.
    Pooled connections are health-checked when handed out (tradingsite/lib/postgresql: by reading the
    socket, not a round trip)."""
    database: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0, conn_health_checks=True))
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{name} must be a postgres:// URL (production runs on PostgreSQL)")
    database["ENGINE"] = "tradingsite.lib.postgresql"  # Django's, reading dates with psycopg's C loader
    options = database.setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
    for key, value in _dead_peer_options(DATABASE_DEAD_PEER_SECONDS).items():
        options.setdefault(key, value)  # the URL's own (?keepalives_idle=…) win
    options["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2, minimum=0),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 3, minimum=1),
    }
    return database


DATABASE_ROUTERS = ["tradingsite.db.ReplicaRouter"]
CACHES: dict[str, dict[str, Any]]
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if EMBEDDED:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    DATABASES = {"default": _postgres(str(DATABASE_URL), "DATABASE_URL")}
    if DATABASE_REPLICA_URL:
        DATABASES["replica"] = _postgres(DATABASE_REPLICA_URL, "DATABASE_REPLICA_URL")
        DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # tests: the replica is the primary
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": SESSION_REDIS_URL,
            "KEY_PREFIX": "cache",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5, **RETRY_ONCE},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py's async pools raise (not wait) past max_connections (100 by default): a burst
            # of socket connects, each joining its groups, needs more. redis-py 8 reads with a 5 s
            # socket timeout by default, exactly channels-redis's 5 s BZPOPMIN: on a busy loop the
            # read times out first and the consumer dies. A longer socket timeout fixes that.
            "CONFIG": {
                "hosts": [
                    {
                        "address": url,
                        "max_connections": 2000,
                        "socket_timeout": 30,
                        "socket_connect_timeout": 2,
                        **ASYNC_RETRY_ONCE,
                    }
                    for url in CHANNEL_REDIS_URLS
                ],
                "prefix": "asgi",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts, sessions, security (ARCHITECTURE §8) --------------------------------------------

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",  # verifies hashes made before Argon2
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Server-side sessions with a per-user index: Redis in production, this process's memory when embedded.
SESSION_ENGINE = "accounts.sessions.backend"
SESSION_STORE = "memory" if EMBEDDED else "redis"
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60, minimum=60)
SESSION_ABSOLUTE_LIFETIME = env_int("SESSION_ABSOLUTE_LIFETIME", 7 * 24 * 3600, minimum=300)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_LIFETIME  # the server ends sessions sooner when idle
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# How many reverse proxies in front of the web processes append to X-Forwarded-For (0: none, the
# header is ignored). Rate limits and the session list use the client address this yields.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=5)
# Failed logins per (username, client IP) in a window, then 429 until the window ends; a wider
# per-IP limit stops password spraying across usernames.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_IP_LIMIT = env_int("LOGIN_FAILURE_IP_LIMIT", 50, minimum=1)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 15 * 60, minimum=1)
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 600, minimum=1)  # requests per user per minute

# HTTPS: on by default outside the embedded demo (which serves plain HTTP on localhost).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not EMBEDDED)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes and scrapes from inside the network
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not EMBEDDED)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if EMBEDDED else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Celery (tradingsite/celery.py reads the CELERY_* names) -------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connections around every task, and with a connection
# pool in a prefork child it closes the whole pool (new pool, new connections for each task). Past
# this many tasks it does so; between, tradingsite/celery.py hands the connection back to the pool.
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the worker logs in LOGGING's format, request ids included
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task taken by a worker that died is handed out again after this many seconds.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300, minimum=10),
}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "orders-requeue-stale": {"task": "portfolio.tasks.orders_requeue_stale", "schedule": 5.0},
    "orders-expire": {"task": "portfolio.tasks.orders_expire", "schedule": 5.0},
}

# --- Prices --------------------------------------------------------------------------------------

PRICE_BUS = "memory" if EMBEDDED else "redis"
# Embedded: the web process runs the price source itself. Production: the `feeder` process does.
PRICE_FEED_IN_PROCESS = env_bool("PRICE_FEED_IN_PROCESS", EMBEDDED)
# Where prices come from: Binance in production (the machine must reach it), simulated when embedded.
PRICE_SOURCE = env_choice("PRICE_SOURCE", "simulated" if EMBEDDED else "binance", ("binance", "simulated"))
PRICE_FLUSH_INTERVAL_MS = env_int("PRICE_FLUSH_INTERVAL_MS", 100, minimum=10, maximum=5000)
PRICE_TTL_SECONDS = env_int("PRICE_TTL_SECONDS", 60, minimum=1)
PRICE_MAX_AGE_SECONDS = env_int("PRICE_MAX_AGE_SECONDS", 10, minimum=1)
# How long a process may serve a symbol's filters and status before reading them again.
SYMBOL_CACHE_SECONDS = env_int("SYMBOL_CACHE_SECONDS", 5, minimum=0)
SIMULATED_RATE = env_int("SIMULATED_RATE", 100, minimum=1, maximum=100_000)
SIMULATED_SEED = env_int("SIMULATED_SEED", 0)
# Binance market data (the market-data-only hosts need no API key).
BINANCE_WS_URL = env_str("BINANCE_WS_URL") or "wss://data-stream.binance.vision"
BINANCE_REST_URL = env_str("BINANCE_REST_URL") or "https://data-api.binance.vision"
BINANCE_STREAM = env_choice("BINANCE_STREAM", "aggTrade", ("aggTrade", "trade", "bookTicker", "miniTicker", "ticker"))
BINANCE_SILENCE_TIMEOUT = env_int("BINANCE_SILENCE_TIMEOUT", 60, minimum=1)

# --- Live sockets (/ws/v1/portfolio) ------------------------------------------------------------

WS_MAX_CONNECTIONS_PER_USER = env_int("WS_MAX_CONNECTIONS_PER_USER", 5, minimum=1)
WS_HEARTBEAT_SECONDS = env_int("WS_HEARTBEAT_SECONDS", 20, minimum=1)
WS_MAX_WATCHED_SYMBOLS = env_int("WS_MAX_WATCHED_SYMBOLS", 50, minimum=1)
WS_MAX_HZ = env_int("WS_MAX_HZ", 10, minimum=1)
WS_CLIENT_MESSAGES_PER_SECOND = env_int("WS_CLIENT_MESSAGES_PER_SECOND", 10, minimum=1)
# Threads serving HTTP requests in each web process, and the interpreter's switch interval between
# them (tradingsite/handlers.py, pricefeed/hub.py: tune_threads; chosen with bench.rest).
WEB_THREADS = env_int("WEB_THREADS", 2, minimum=1)
WEB_SWITCH_INTERVAL_MS = float(env_decimal("WEB_SWITCH_INTERVAL_MS", "1"))
# Requests one HTTP process holds at once (served or waiting for a thread); the next is answered 503
# `overloaded` with Retry-After (tradingsite/handlers.py; chosen with bench.rest).
WEB_MAX_IN_FLIGHT = env_int("WEB_MAX_IN_FLIGHT", 32, minimum=1)

# /metrics: with a token, whoever sends it as a bearer token; without, the machine itself only.
METRICS_TOKEN = env_str("METRICS_TOKEN") or ""
# Where the pages open their live socket: the stream front, as a base URL (wss://stream.example.com)
# or as a port on the page's own host (":8001": docker compose, the local cluster), or empty for the
# page's own host and port. A front proxy of its own for the sockets keeps requests from queueing
# behind frames in the proxy (README, Deployment). The socket's Origin is still the page's, checked
# against ALLOWED_HOSTS; on another host name the session cookie must reach it (SESSION_COOKIE_DOMAIN).
STREAM_URL = (env_str("STREAM_URL") or "").rstrip("/")
if STREAM_URL and not re.fullmatch(r"wss?://[^/?#]+|:\d{1,5}", STREAM_URL):
    raise ImproperlyConfigured(
        f"STREAM_URL={STREAM_URL!r}: give the stream front as ws[s]://host[:port] or as :PORT on the page's host"
    )
# At most one pnl frame per socket per interval, with the newest numbers of all that moved meanwhile.
WS_PUSH_INTERVAL_MS = env_int("WS_PUSH_INTERVAL_MS", 200, minimum=0)
# With a window, the socket processes of one machine do not all run their fan-out at once when a batch
# comes: each takes a slot (a lock file in VAR_DIR) and runs its passes later by a part of the window:
# the first at the batch, the second half the window later, the next ones in between (pricefeed/hub.py:
# pass_spread). 60 by default: at the design load no frame left later than 250 ms after the socket's
# last one (300 s; without it 0.085 % of them, up to 292 ms), and with REST at 50 requests/s alongside
# REST and the push as good or better (two pairs of runs; README, Performance → Live PnL). 0: all at once.
WS_PASS_SPREAD_MS = env_int("WS_PASS_SPREAD_MS", 60, minimum=0, maximum=1000)
# Passes per feed batch in each socket process: a socket's frames are due at one of them, the first at
# the batch (or its slot's delay: WS_PASS_SPREAD_MS), the next ones evenly in the time to the next
# batch, with that batch's prices. More passes, fewer frames each: a pass that runs slow (the
# machine's other work, the host) delays fewer sockets, by less; but the later passes' prices are
# older. Measured at the design load (README, Performance → Live PnL): 2 against 1, over 300 s 192
# against 1,481 frames sent more than 250 ms after the socket's last (and fewer in 4 of 5 pairs of
# runs), newest-price p99 152 against 97 ms, oldest-change p99 336 against 281 ms. 2 as shipped.
WS_PASSES_PER_BATCH = env_int("WS_PASSES_PER_BATCH", 2, minimum=1, maximum=10)
# A file each socket process appends one line per fan-out pass to (when it started, how long it took,
# frames, the batch it served and when that batch came): for bench.live --trace, to see what the
# process did around a late frame. Empty (the default): no trace.
WS_PASS_TRACE = env_str("WS_PASS_TRACE") or ""

# --- Trading -------------------------------------------------------------------------------------

STARTING_BALANCE = env_decimal("STARTING_BALANCE", "100000", minimum=Decimal(0))
QUOTE_ASSET = "USDT"
FEE_RATE = env_decimal("FEE_RATE", "0.001", minimum=Decimal(0), maximum=Decimal("0.1"))
MAX_LEVERAGE = env_decimal("MAX_LEVERAGE", "1", minimum=Decimal("0.01"), maximum=Decimal(100))
# A pending order older than this is expired, never filled at an ancient price.
ORDER_TTL_SECONDS = env_int("ORDER_TTL_SECONDS", 60, minimum=1)
# A pending order older than this is handed to the workers again (its task may have been lost).
ORDER_REQUEUE_AFTER_SECONDS = env_int("ORDER_REQUEUE_AFTER_SECONDS", 10, minimum=1)
# A realized-gains report over a longer history (trades up to the year's end) is built by a worker
# (202, then the result at /api/v1/reports/<id>): 100,000 trades take 1.5–1.9 s in a request.
REPORT_SYNC_MAX_TRADES = env_int("REPORT_SYNC_MAX_TRADES", 100_000, minimum=0)
# A report still pending after this long is asked of the workers again (its task may have been lost).
REPORT_RETRY_AFTER_SECONDS = env_int("REPORT_RETRY_AFTER_SECONDS", 600, minimum=10)

# --- HTTP, API -----------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # Bearer first: its challenge makes unauthenticated API calls 401, and a request carrying a bearer
    # token is never a cross-site one (no CSRF check needed); cookie requests are CSRF-checked.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerSessionAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.ratelimit.UserApiThrottle"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["tradingsite.lib.renderers.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tradingsite.lib.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "tradingsite.lib.renderers.StrictContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tradingsite.lib.errors.api_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "tradingsite API",
    "DESCRIPTION": "Paper trading at live Binance prices. Money, prices and quantities are decimal strings.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "OAS_VERSION": "3.1.0",
    "ENUM_NAME_OVERRIDES": {
        "OrderSideEnum": ["buy", "sell"],
        "PositionSideEnum": ["long", "short"],
        "CostBasisMethodEnum": ["fifo", "lifo", "hifo", "average"],
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tradingsite.lib.schema.add_errors",
    ],
    # /api/docs/ works offline: Swagger UI's files are served from drf-spectacular-sidecar.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portfolio:home"
LOGOUT_REDIRECT_URL = "accounts:login"

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# Production: `collectstatic` (the Procfile's release step) writes content-hashed copies and a manifest
# here, and pages link the hashed names (cache-busting; WhiteNoise serves them as immutable). The
# embedded mode serves the files as they are.
STATIC_ROOT = env_str("STATIC_ROOT") or (None if EMBEDDED else str(VAR_DIR / "static"))
if STATIC_ROOT is not None and not EMBEDDED:
    with contextlib.suppress(OSError):  # WhiteNoise warns on every start about a missing folder
        Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "tradingsite.lib.static.ManifestStorage"},
    }
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise also serves the files from their folders: a server started without `collectstatic`
# links and serves the plain names (tradingsite/lib/static.py).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
# json: one object per line with the request id (production); plain: text (the embedded demo).
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if EMBEDDED else "json", ("json", "plain"))
LOGGING = logs.config(LOG_LEVEL, LOG_FORMAT)
