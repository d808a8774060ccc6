"""The multi-instance topology on one machine, from distribution packages: `deploy/local-cluster`.

    deploy/local-cluster up [--port 8080] [--dir var/cluster]   start it all, wait until ready
    deploy/local-cluster status                                  what runs, and /readyz
    deploy/local-cluster down [--purge]                          stop it all (--purge: and its data)

What runs (ports from --port, P); the app processes (http, ws, feeder, worker, beat) are started again
when they exit unasked (deploy/supervise.py, like compose's `restart: unless-stopped`):

    nginx                P        the API front: pages, API, admin → the http instances (/ws/ too)
    stream               P+10     the stream front: the pages' live sockets (/ws/) → the ws instances
    http-1, http-2       P+1, P+2 tradingsite.serve --pool http
    ws-1, ws-2           P+11,P+12 tradingsite.serve --pool ws
    feeder, worker, beat          one each (prices simulated unless --source binance)
    postgres-primary     P+20     PostgreSQL, streaming to:
    postgres-replica     P+21     a hot standby: history, CSV and reports read here
    redis-bus            P+30     price bus and channel layer (nothing on disk)
    redis-state          P+31     sessions, cache, rate limits, Celery broker (append-only file)

Everything lives under --dir: data, logs (logs/NAME.log), the generated nginx.conf, and
cluster.json (ports and process ids) for `status` and `down`. `up` again after `down` keeps the data.
Needs: nginx, redis-server and the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.supervise import RESTART_MARK

ROOT = Path(__file__).resolve().parents[1]
APP_PROCESSES = ("http-1", "http-2", "ws-1", "ws-2", "feeder", "worker", "beat")


class ClusterError(RuntimeError):
    pass


def _which(name: str, hint: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise ClusterError(f"{name} not found: {hint}")
    return found


def _postgres_bin() -> Path:
    from tradingsite.testing.servers import ServiceUnavailable, _postgres_bindir

    try:
        return _postgres_bindir(("initdb", "pg_ctl", "pg_basebackup"))
    except ServiceUnavailable as exc:
        raise ClusterError(str(exc)) from None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (our own exited child) is not alive
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


@dataclass
class Cluster:
    folder: Path
    port: int = 8080
    source: str = "simulated"
    http_workers: int = 1
    ws_workers: int = 1
    per_address: int = 100  # nginx's cap on connections from one client address (0: none)
    pids: dict[str, int] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)  # settings for every app process (bench.chaos)

    # --- where things are -------------------------------------------------------------------

    @property
    def ports(self) -> dict[str, int]:
        p = self.port
        return {
            "nginx": p,
            "stream": p + 10,
            "http-1": p + 1,
            "http-2": p + 2,
            "ws-1": p + 11,
            "ws-2": p + 12,
            "postgres-primary": p + 20,
            "postgres-replica": p + 21,
            "redis-bus": p + 30,
            "redis-state": p + 31,
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def database_url(self, which: str = "primary") -> str:
        return f"postgres://postgres@127.0.0.1:{self.ports[f'postgres-{which}']}/tradingsite"

    def redis_url(self, role: str) -> str:
        return f"redis://127.0.0.1:{self.ports[f'redis-{role}']}/0"

    def log(self, name: str) -> Path:
        return self.folder / "logs" / f"{name}.log"

    def env(self) -> dict[str, str]:
        """The environment every app process gets: the production wiring, on loopback."""
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
        base = {k: os.environ[k] for k in keep if k in os.environ}
        python_bin = str(Path(sys.executable).parent)
        origins = f"http://127.0.0.1:{self.port},http://localhost:{self.port}"
        return {
            **base,
            "PATH": f"{python_bin}:{base.get('PATH', '/usr/bin:/bin')}",
            "DATABASE_URL": self.database_url("primary"),
            "DATABASE_REPLICA_URL": self.database_url("replica"),
            "DATABASE_POOL_MIN_SIZE": "1",
            "REDIS_URL": self.redis_url("state"),
            "PRICE_REDIS_URL": self.redis_url("bus"),
            "SECRET_KEY": self._secret_key(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": origins,
            "TRUSTED_PROXY_COUNT": "1",
            "STREAM_URL": f":{self.ports['stream']}",  # the pages' live sockets: the stream front
            "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback: TLS would end at nginx
            "SECURE_COOKIES": "0",
            "SECURE_HSTS_SECONDS": "0",
            "VAR_DIR": str(self.folder / "var"),
            "STATIC_ROOT": str(self.folder / "static"),
            "PRICE_SOURCE": self.source,
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            **self.overrides,
        }

    def _secret_key(self) -> str:
        key = self.folder / "secret_key"
        if not key.exists():
            key.write_text(secrets.token_urlsafe(50))
            key.chmod(0o600)
        return key.read_text().strip()

    # --- state --------------------------------------------------------------------------------

    @classmethod
    def load(cls, folder: Path) -> Cluster:
        state = folder / "cluster.json"
        if not state.exists():
            raise ClusterError(f"no cluster in {folder} (nothing was started there)")
        data = json.loads(state.read_text())
        return cls(
            folder=folder,
            port=data["port"],
            source=data["source"],
            http_workers=data["http_workers"],
            ws_workers=data["ws_workers"],
            per_address=data.get("per_address", 100),
            pids=data["pids"],
            overrides=data.get("overrides", {}),
        )

    def save(self) -> None:
        state = {
            "port": self.port,
            "source": self.source,
            "http_workers": self.http_workers,
            "ws_workers": self.ws_workers,
            "per_address": self.per_address,
            "overrides": self.overrides,
            "pids": self.pids,
            "ports": self.ports,
            "url": self.url,
        }
        (self.folder / "cluster.json").write_text(json.dumps(state, indent=2) + "\n")

    def running(self) -> dict[str, bool]:
        return {name: _alive(pid) for name, pid in self.pids.items()}

    # --- up -------------------------------------------------------------------------------------

    def up(self, timeout: float = 120) -> None:
        if any(self.running().values()):
            raise ClusterError(f"a cluster already runs from {self.folder}: deploy/local-cluster down first")
        nginx = _which("nginx", "install it (Debian/Ubuntu: apt-get install -y nginx-light)")
        redis = _which("redis-server", "install it (Debian/Ubuntu: apt-get install -y redis-server)")
        pg = _postgres_bin()
        (self.folder / "logs").mkdir(parents=True, exist_ok=True)
        self.pids = {}
        self.save()
        try:
            self._postgres(pg)
            self._redis(redis, "bus", persistent=False)
            self._redis(redis, "state", persistent=True)
            self._manage("demo", "--setup-only")
            self._manage("collectstatic", "--noinput", "-v", "0")
            self._apps()
            self._nginx(nginx)
            self.wait_ready(timeout)
        except BaseException:
            self.down()
            raise

    def _as_postgres(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]

    def _pg_run(self, *args: str, cwd: Path) -> None:
        result = subprocess.run([*self._as_postgres(), *args], capture_output=True, text=True, cwd=cwd, check=False)
        if result.returncode != 0:
            raise ClusterError(f"{Path(args[0]).name} failed:\n{result.stdout}\n{result.stderr}")

    def _pg_folder(self) -> Path:
        folder = self.folder / "postgres"
        folder.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        return folder

    def _pg_options(self, which: str) -> str:
        return (
            f"-p {self.ports[f'postgres-{which}']} -c listen_addresses=127.0.0.1 -k {self.folder / 'postgres'} "
            "-c max_connections=200 -c wal_level=replica -c max_wal_senders=5 -c hot_standby=on"
        )

    def _pg_start(self, which: str) -> None:
        folder = self._pg_folder()
        data = folder / which
        self._pg_run(str(_postgres_bin() / "pg_ctl"), "-D", str(data), "-o", self._pg_options(which),
                     "-l", str(folder / f"{which}.log"), "-w", "-t", "60", "start", cwd=folder)  # fmt: skip
        self.pids[f"postgres-{which}"] = int((data / "postmaster.pid").read_text().split()[0])
        self.save()

    def _postgres(self, pg: Path) -> None:
        folder = self._pg_folder()
        primary, replica = folder / "primary", folder / "replica"
        if not primary.exists():
            self._pg_run(str(pg / "initdb"), "-D", str(primary), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                         "--no-sync", cwd=folder)  # fmt: skip
        self._pg_start("primary")
        import psycopg

        server = f"postgres://postgres@127.0.0.1:{self.ports['postgres-primary']}/postgres"
        with psycopg.connect(server, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'tradingsite'").fetchone():
                conn.execute("CREATE DATABASE tradingsite")
        if not replica.exists():
            source = ("-h", "127.0.0.1", "-p", str(self.ports["postgres-primary"]), "-U", "postgres")
            # -c fast: a checkpoint now, not one spread over minutes (-R: standby.signal and the conninfo)
            self._pg_run(str(pg / "pg_basebackup"), *source, "-D", str(replica), "-R", "-X", "stream", "-c", "fast",
                         "--no-sync", cwd=folder)  # fmt: skip
        self._pg_start("replica")

    def restart_dependency(self, name: str) -> None:
        """Start a PostgreSQL or Redis server again after it was stopped (the fault tests)."""
        if name.startswith("postgres-"):
            self._pg_start(name.removeprefix("postgres-"))
        elif name.startswith("redis-"):
            redis = _which("redis-server", "install it (Debian/Ubuntu: apt-get install -y redis-server)")
            self._redis(redis, name.removeprefix("redis-"), persistent=name == "redis-state")
        else:
            self.start(name)

    def _redis(self, binary: str, role: str, *, persistent: bool) -> None:
        folder = self.folder / f"redis-{role}"
        folder.mkdir(exist_ok=True)
        disk = ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""] if persistent else [
            "--appendonly", "no", "--save", ""]  # fmt: skip
        self._spawn(f"redis-{role}", [binary, "--port", str(self.ports[f"redis-{role}"]), "--bind", "127.0.0.1",
                                      "--dir", str(folder), *disk], env=dict(os.environ))  # fmt: skip
        # Our Redis, not whatever else answers there: it exits at once if its port is taken.
        _wait_port(self.ports[f"redis-{role}"], 15, lambda: self._check_alive(f"redis-{role}"))
        time.sleep(0.05)
        self._check_alive(f"redis-{role}")

    def _manage(self, *args: str) -> None:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(), capture_output=True,
                                text=True, check=False)  # fmt: skip
        self.log("setup").open("a").write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise ClusterError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def app_command(self, name: str) -> list[str]:
        python = sys.executable
        if name.startswith(("http-", "ws-")):
            pool = name.split("-")[0]
            workers = self.http_workers if pool == "http" else self.ws_workers
            return [python, "-m", "tradingsite.serve", "--pool", pool, "--host", "127.0.0.1",
                    "--port", str(self.ports[name]), "--workers", str(workers)]  # fmt: skip
        return {
            "feeder": [python, "manage.py", "binance_feed"],
            "worker": [python, "-m", "celery", "--app", "tradingsite", "worker", "--loglevel", "INFO",
                       "--prefetch-multiplier", "1", "--concurrency", "2", "--hostname", "worker@%h",
                       "--without-gossip", "--without-mingle"],
            "beat": [python, "-m", "celery", "--app", "tradingsite", "beat", "--loglevel", "INFO",
                     "--schedule", str(self.folder / "var" / "celerybeat-schedule")],
        }[name]  # fmt: skip

    def start(self, name: str) -> None:
        """Start one app process (again): `up` does all; a test restarts one it killed."""
        env = self.env()
        if name.startswith(("http-", "ws-")):
            # each instance counts its /metrics in its own folder
            env["PROMETHEUS_MULTIPROC_DIR"] = str(self.folder / "var" / "metrics" / name)
            shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
            Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True)
        # restarted when it exits unasked, as compose's `restart: unless-stopped` would (deploy/supervise.py)
        supervised = [sys.executable, "-m", "deploy.supervise", "--name", name, "--", *self.app_command(name)]
        self._spawn(name, supervised, env=env)

    def restarts(self) -> dict[str, int]:
        """How many times each app process was restarted after exiting unasked (its supervisor's lines)."""
        counts = {}
        for name in APP_PROCESSES:
            try:
                text = self.log(name).read_text(errors="replace")
            except OSError:
                continue
            counts[name] = text.count(RESTART_MARK.format(name=name))
        return counts

    def _apps(self) -> None:
        (self.folder / "var").mkdir(exist_ok=True)
        for name in APP_PROCESSES:
            self.start(name)
        for name in ("http-1", "http-2", "ws-1", "ws-2"):
            _wait_port(self.ports[name], 60, lambda n=name: self._check_alive(n))

    def _check_alive(self, name: str) -> None:
        if not _alive(self.pids.get(name)):
            raise ClusterError(f"{name} exited; its log ({self.log(name)}):\n{_tail(self.log(name))}")

    def _nginx(self, binary: str) -> None:
        """Two fronts, each an nginx of its own (own processes, own event loops): the API front and
        the stream front, to which the pages send their live sockets (STREAM_URL). Through one nginx,
        every request waited behind the frames it was relaying (bench.live, README Deployment)."""
        ports = self.ports
        for name in ("nginx", "stream"):
            folder = self.folder / name
            conf = nginx_conf(
                folder,
                port=ports[name],
                http=[ports[n] for n in ("http-1", "http-2")],
                ws=[ports[n] for n in ("ws-1", "ws-2")],
                static_parent=self.folder,
                logs=self.folder / "logs",
                per_address=self.per_address,
                name=name,
            )
            (folder / "nginx.conf").write_text(conf)
            test = subprocess.run([binary, "-t", "-p", str(folder), "-c", str(folder / "nginx.conf")],
                                  capture_output=True, text=True, check=False)  # fmt: skip
            if test.returncode != 0:
                raise ClusterError(f"nginx refused its configuration:\n{test.stderr}")
            self._spawn(name, [binary, "-p", str(folder), "-c", str(folder / "nginx.conf")], env=dict(os.environ))
            _wait_port(ports[name], 15)

    def _spawn(self, name: str, command: list[str], *, env: dict[str, str]) -> None:
        log = self.log(name).open("ab")
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.pids[name] = proc.pid
        self.save()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name in APP_PROCESSES:
                self._check_alive(name)
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except OSError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise ClusterError(f"not ready after {timeout:.0f} s: {last}")

    # --- down -----------------------------------------------------------------------------------

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        pid = self.pids.get(name)
        if not _alive(pid):
            return
        assert pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig) if name not in ("postgres-primary", "postgres-replica") else os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    def down(self, purge: bool = False) -> None:
        order = ["nginx", "stream", *APP_PROCESSES, "redis-bus", "redis-state"]
        for name in order:
            self.stop(name, signal.SIGQUIT if name in ("nginx", "stream") else signal.SIGTERM)
        for which in ("replica", "primary"):
            # SIGINT: PostgreSQL's "fast" shutdown (clients disconnected, a clean checkpoint)
            self.stop(f"postgres-{which}", signal.SIGINT, timeout=30)
        self.pids = {}
        if purge:
            shutil.rmtree(self.folder, ignore_errors=True)
        elif self.folder.exists():
            self.save()

    # --- status ---------------------------------------------------------------------------------

    def status(self) -> str:
        ports, lines = self.ports, []
        for name, alive in self.running().items():
            port = f":{ports[name]}" if name in ports else ""
            lines.append(f"  {name:<18} {'up' if alive else 'DOWN':<5} pid {self.pids[name]:<8} {port}")
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                ready = f"ready ({response.status})"
        except urllib.error.HTTPError as exc:
            ready = f"not ready ({exc.code}): {exc.read().decode(errors='replace')[:300]}"
        except OSError as exc:
            ready = f"unreachable: {exc}"
        return "\n".join([f"tradingsite local cluster at {self.url} — {ready}", *lines])


def nginx_conf(
    folder: Path,
    *,
    port: int,
    http: list[int | str],
    ws: list[int | str],
    static_parent: Path,
    logs: Path,
    workers: int = 1,
    per_address: int = 100,
    name: str = "nginx",
) -> str:
    """A whole nginx.conf for instances on this machine's loopback, runnable as any user (pid, logs
    and temp files under `folder`), around the shared deploy/nginx/locations.conf. `per_address`:
    connections one client address may hold (HTTP and WebSocket; 0 = no cap: load generators).
    `http` / `ws`: the instances' ports on loopback, or the paths of their Unix sockets
    (tradingsite.serve --uds). `name`: of its log files (NAME-access.log, NAME-error.log)."""
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "temp" / sub).mkdir(parents=True, exist_ok=True)
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return NGINX_CONF.format(
        nofile=40000 if hard == resource.RLIM_INFINITY else min(40000, hard),
        user="user root root;" if os.geteuid() == 0 else "",  # workers read the static files and temp
        workers=workers,
        folder=folder,
        logs=logs,
        name=name,
        port=port,
        http=" ".join(f"server {_upstream(p)} max_fails=3 fail_timeout=10s;" for p in http),
        ws=" ".join(f"server {_upstream(p)} max_fails=3 fail_timeout=10s;" for p in ws),
        static_parent=static_parent,
        locations=ROOT / "deploy" / "nginx" / "locations.conf",
        limit_zone="limit_conn_zone $binary_remote_addr zone=tradingsite_addr:10m;" if per_address else "",
        limit=f"limit_conn tradingsite_addr {per_address}; limit_conn_status 429;" if per_address else "",
    )


def _upstream(where: int | str) -> str:
    return f"127.0.0.1:{where}" if isinstance(where, int) else f"unix:{where}"


NGINX_CONF = """\
# Generated by deploy/cluster.py: a front proxy for instances on this machine.
{user}
worker_processes {workers};
daemon off;
pid {folder}/nginx.pid;
error_log {logs}/{name}-error.log warn;
events {{ worker_connections 16384; }}
worker_rlimit_nofile {nofile};

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {folder}/temp/client_body;
    proxy_temp_path {folder}/temp/proxy;
    fastcgi_temp_path {folder}/temp/fastcgi;
    uwsgi_temp_path {folder}/temp/uwsgi;
    scgi_temp_path {folder}/temp/scgi;
    sendfile on;
    tcp_nodelay on;
    log_format tradingsite '$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent '
                           '$request_time $upstream_addr $upstream_response_time request_id=$request_id';
    access_log {logs}/{name}-access.log tradingsite;

    {limit_zone}
    upstream tradingsite_http {{ {http} keepalive 32; keepalive_timeout 60s; }}
    upstream tradingsite_ws {{ {ws} }}

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name _;
        set $static_parent {static_parent};
        {limit}
        include {locations};
    }}
}}
"""


def free_base_port() -> int:
    """A base port whose whole block (base … base+31) is free: for clusters of tests and benches.
    Below the kernel's ephemeral range (32768 and up here): a block inside it could be taken between
    this check and a server's bind by the local port of any outgoing connection (a CI run saw the
    cluster's Redis lose its port so, and every cluster test fail at set-up)."""
    import random
    import socket

    low = 20000
    with contextlib.suppress(OSError, ValueError):
        low = min(low, int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) - 10000)
    for _ in range(50):
        base = random.randrange(max(low, 10000), low + 10000, 100)  # noqa: S311 (not a secret)
        try:
            for offset in range(32):
                with socket.socket() as taken:
                    taken.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise ClusterError("no free block of ports")


def _wait_port(port: int, timeout: float, check: Any = None) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check is not None:
            check()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise ClusterError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/local-cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "cluster", help="where data and logs live")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port; the others follow it (above)")
    parser.add_argument("--source", choices=["simulated", "binance"], default="simulated", help="the feeder's source")
    parser.add_argument("--http-workers", type=int, default=1, help="processes per http instance")
    parser.add_argument("--ws-workers", type=int, default=1, help="processes per ws instance")
    parser.add_argument("--max-conns-per-address", type=int, default=100,
                        help="connections nginx lets one client address hold (0: no cap)")  # fmt: skip
    parser.add_argument("--purge", action="store_true", help="down: also delete the data and logs")
    args = parser.parse_args(argv)
    folder = args.dir.resolve()
    try:
        if args.command == "up":
            folder.mkdir(parents=True, exist_ok=True)
            cluster = Cluster(
                folder, args.port, args.source, args.http_workers, args.ws_workers, args.max_conns_per_address
            )
            with contextlib.suppress(ClusterError):
                cluster.pids = Cluster.load(folder).pids  # refuse to start twice
            started = time.monotonic()
            cluster.up()
            print(cluster.status())
            took = time.monotonic() - started
            print(f"\nready in {took:.0f} s: open {cluster.url}/ and log in as demo / demo-trader")
            print(f"logs: {folder / 'logs'}   stop: deploy/local-cluster down")
        elif args.command == "down":
            Cluster.load(folder).down(purge=args.purge)
            print("stopped" + (" and purged" if args.purge else ""))
        else:
            print(Cluster.load(folder).status())
    except ClusterError as exc:
        print(f"local-cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
