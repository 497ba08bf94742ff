"""Start real SPARQL servers on 127.0.0.1 for tests and benchmarks.

* Oxigraph server: the ``oxigraph`` console script of the PyPI package
  ``oxigraph`` (beside the venv's Python, or on PATH), started with
  ``--timeout-s`` so a query the client gave up on does not run forever.
* Virtuoso open source (Debian ``virtuoso-opensource``): ``virtuoso-t`` with a
  ``virtuoso.ini`` written into a temporary directory, listening on
  127.0.0.1 only, with ``MaxQueryExecutionTime`` and ``ResultSetMaxRows`` set
  (the stock values cut results silently). SPARQL Update and the Graph Store
  Protocol are enabled for the anonymous ``SPARQL`` account with ``isql``
  (``GRANT SPARQL_UPDATE TO "SPARQL"``), which is acceptable only because the
  server listens on the loopback interface and lives for one test session;
  docs/remote-stores.md shows the authenticated endpoints for real servers.

Each starter returns a :class:`Server` (its three URLs and ``stop()``) or
raises :class:`ServerUnavailable` with the reason (binary missing, failed to
start) so fixtures can skip with that reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The server cannot run here (binary missing, or it did not start)."""


@dataclass
class Server:
    name: str
    query_url: str
    update_url: str
    gsp_url: str
    process: subprocess.Popen
    directory: Path
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def options(self) -> dict[str, str]:
        """Keyword arguments for :func:`kg.stores.open_store` / ``KnowledgeGraph.open``."""
        return {"update_url": self.update_url, "gsp_url": self.gsp_url}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports. Every socket stays bound until all are
    chosen: bound and closed one at a time, the kernel may hand the same port out twice
    (most likely why Virtuoso once exited with "Failed HTTP listen" after its SQL listener
    had received an HTTP request)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def find_binary(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"server exited with status {process.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (a 400 for a request without a query is fine)
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    process.kill()
    raise ServerUnavailable(f"server did not answer {url} within {timeout:g} s: {_tail(log)}")


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_oxigraph(directory: Path, *, timeout_s: int | None = 60, union_default_graph: bool = False) -> Server:
    """Oxigraph server over a store in ``directory`` (``timeout_s`` None: without
    ``--timeout-s``; with it, Oxigraph server 0.5 answers 500 "Resource temporarily
    unavailable" to many requests from 8 concurrent clients).

    The union default graph is not switched on by default: the remote store
    asks for it per query (``union-default-graph`` protocol parameter), so it
    works with a server started either way.
    """
    binary = find_binary("oxigraph")
    if binary is None:
        raise ServerUnavailable("the `oxigraph` server binary is not installed (pip install oxigraph)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = directory / "oxigraph.log"
    args = [binary, "serve", "--location", str(directory / "db"), "--bind", f"127.0.0.1:{port}"]
    if timeout_s is not None:
        args += ["--timeout-s", str(timeout_s)]
    if union_default_graph:
        args.append("--union-default-graph")
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/query", process, log, 30)
    return Server("oxigraph-server", f"{base}/query", f"{base}/update", f"{base}/store", process, directory, log)


VIRTUOSO_INI = """\
[Database]
DatabaseFile = {dir}/virtuoso.db
ErrorLogFile = {dir}/virtuoso.log
LockFile = {dir}/virtuoso.lck
TransactionFile = {dir}/virtuoso.trx
xa_persistent_file = {dir}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {dir}/virtuoso-temp.db
TransactionFile = {dir}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
DisableTcpSocket = 0
MaxClientConnections = 10
CheckpointInterval = 60
CaseMode = 2
DirsAllowed = ., {dir}
NumberOfBuffers = {buffers}
MaxDirtyBuffers = {dirty}
ThreadsPerQuery = 2

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {dir}/vsp
MaxClientConnections = 10
ServerThreads = 10
EnabledGzipContent = 0

[SPARQL]
ResultSetMaxRows = 1000000
MaxQueryCostEstimationTime = 0
MaxQueryExecutionTime = {timeout_s}
"""

#: isql statements that let the anonymous SPARQL account update (loopback test servers only).
VIRTUOSO_GRANTS = 'GRANT SPARQL_UPDATE TO "SPARQL";'
#: Virtuoso's answer to a GRANT of a role the account already has (a database started again).
VIRTUOSO_ALREADY_GRANTED = "U0013"


def _grant(isql: str, sql_port: int) -> None:
    """Run :data:`VIRTUOSO_GRANTS`; a database started again already has them."""
    try:
        _isql(isql, sql_port, VIRTUOSO_GRANTS)
    except ServerUnavailable as exc:
        if VIRTUOSO_ALREADY_GRANTED not in str(exc):
            raise


def start_virtuoso(directory: Path, *, timeout_s: int = 120, buffers: int = 60000, attempts: int = 3) -> Server:
    """Virtuoso with its database, log and ini in ``directory`` (loopback only).

    A port chosen free can be taken before Virtuoso binds it (by another process's
    connection); Virtuoso then exits, and it is started again on other ports, up to
    ``attempts`` times."""
    for _ in range(attempts - 1):
        try:
            return _start_virtuoso(directory, timeout_s=timeout_s, buffers=buffers)
        except ServerUnavailable as exc:
            if "listen" not in str(exc):
                raise
    return _start_virtuoso(directory, timeout_s=timeout_s, buffers=buffers)


def _start_virtuoso(directory: Path, *, timeout_s: int, buffers: int) -> Server:
    binary = find_binary("virtuoso-t")
    isql = find_binary("isql-vt") or find_binary("isql")
    if binary is None or isql is None:
        raise ServerUnavailable("Virtuoso is not installed (apt-get install virtuoso-opensource: virtuoso-t and isql-vt)")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vsp").mkdir(exist_ok=True)
    sql_port, http_port = free_ports(2)
    ini = directory / "virtuoso.ini"
    ini.write_text(
        VIRTUOSO_INI.format(
            dir=directory, sql_port=sql_port, http_port=http_port, timeout_s=timeout_s, buffers=buffers, dirty=buffers * 3 // 4
        )
    )
    log = directory / "virtuoso.log"
    out = open(directory / "stdout.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [binary, "+foreground", "+configfile", str(ini)],
        cwd=directory,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out.close()
    base = f"http://127.0.0.1:{http_port}"
    try:
        _wait_http(f"{base}/sparql", process, log, 60)
        _grant(isql, sql_port)
    except ServerUnavailable:
        if process.poll() is None:
            process.kill()
        raise
    server = Server("virtuoso", f"{base}/sparql", f"{base}/sparql", f"{base}/sparql-graph-crud", process, directory, log)
    server.extra = {
        "sql_port": str(sql_port),
        "isql": isql,
        "auth_query_url": f"{base}/sparql-auth",
        "auth_gsp_url": f"{base}/sparql-graph-crud-auth",
    }
    return server


def _isql(isql: str, port: int, statements: str, password: str = "dba") -> str:
    env = dict(os.environ)
    try:
        done = subprocess.run(
            [isql, f"127.0.0.1:{port}", "dba", password, f"exec={statements}"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerUnavailable(f"isql failed: {exc}") from None
    if done.returncode != 0 or "*** Error" in done.stdout + done.stderr:
        raise ServerUnavailable(f"isql failed: {(done.stdout + done.stderr).strip()[:300]}")
    return done.stdout


def checkpoint_virtuoso(server: Server) -> None:
    """Write Virtuoso's checkpoint (used by benchmarks before timing queries)."""
    _isql(server.extra["isql"], int(server.extra["sql_port"]), "checkpoint;")
