"""Virtuoso's own bulk loader for a first load into a Virtuoso store on this machine.

Virtuoso documents its RDF bulk loader (the "VirtBulkRDFLoader" page of its
wiki, and OpenLink's "Bulk Loading RDF into a Virtuoso Single-Server Instance"
how-to; see docs/remote-stores.md): files in a folder listed in
``DirsAllowed`` of ``virtuoso.ini`` are registered with ``ld_dir(folder,
pattern, graph)`` into ``DB.DBA.load_list``, loaded by ``rdf_loader_run()``
(``.nq`` N-Quads, gzip-compressed ``.gz`` too; an N-Quads file's own graph
names are used), and made durable by ``checkpoint`` (the loader does not log
its writes: a crash before the checkpoint loses them). Each file's outcome is
in ``load_list`` (``ll_state`` 2 when done, ``ll_error`` when it failed).

These are SQL procedures, reached through Virtuoso's SQL port with its
``isql`` client (Debian: ``isql-vt``); nothing here speaks the ODBC protocol.
isql reports errors as ``*** Error`` lines and still exits 0, so its output
is read for them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError

#: Virtuoso's documented default SQL port.
DEFAULT_ISQL_PORT = 1111
#: ``ld_dir`` needs a graph for files that name none; our N-Quads name one on every line.
FALLBACK_GRAPH = "https://w3id.org/tcell-kg/adapter/bulk-load-default"
ISQL_TIMEOUT_S = 24 * 3600.0


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def find_isql() -> str | None:
    """Virtuoso's isql: ``TKG_ISQL_BINARY``, else ``isql-vt`` (Debian's name), else ``isql``."""
    explicit = os.environ.get("TKG_ISQL_BINARY")
    if explicit:
        return explicit
    return shutil.which("isql-vt") or shutil.which("isql")


@dataclass
class VirtuosoBulkLoader:
    """Loads N-Quads files through Virtuoso's bulk loader (``ld_dir``, ``rdf_loader_run``, ``checkpoint``)."""

    folder: Path
    host: str
    port: int
    user: str
    password: str
    isql: str

    @classmethod
    def configure(cls, store_url: str, folder: str, isql: str, user: str, password: str) -> VirtuosoBulkLoader:
        """Check the options before anything is converted (one clear error each)."""
        where = Path(folder).expanduser()
        if not where.is_dir():
            raise StoreError(f"the bulk-load folder {where} does not exist", expected="a folder Virtuoso may read (DirsAllowed)")
        if not os.access(where, os.W_OK | os.X_OK):
            raise StoreError(f"the bulk-load folder {where} is not writable by this process")
        host = urllib.parse.urlsplit(store_url).hostname or "127.0.0.1"
        port_text = isql.strip() or str(DEFAULT_ISQL_PORT)
        if ":" in port_text:
            host, _, port_text = port_text.rpartition(":")
        if not port_text.isdigit():
            raise StoreError(f"--isql {isql!r} is not a port", expected="PORT or HOST:PORT of Virtuoso's SQL port (1111 by default)")
        if not password:
            raise StoreError("the bulk loader needs the password of the isql user", expected="TKG_ISQL_PASSWORD in the environment")
        binary = find_isql()
        if binary is None:
            raise StoreError("Virtuoso's isql client is not installed", expected="isql-vt (Debian: virtuoso-opensource) or TKG_ISQL_BINARY")
        return cls(where.resolve(), host, int(port_text), user or "dba", password, binary)

    # -- isql ---------------------------------------------------------------------
    def run(self, statements: str) -> str:
        """Run SQL statements through isql; a ``*** Error`` in its output is a StoreError."""
        # The password is an argument of isql (it reads no password from the environment):
        # other users of this machine can see it in the process list while isql runs.
        args = [self.isql, f"{self.host}:{self.port}", self.user, self.password, f"exec={statements}"]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=ISQL_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StoreError(f"cannot run Virtuoso's isql ({self.isql}): {exc}") from None
        output = done.stdout + done.stderr
        errors = [line.strip() for line in output.splitlines() if line.startswith("*** Error")]
        if done.returncode != 0 or errors:
            detail = " ".join(errors) or " ".join(output.split())[-300:]
            if "FA003" in detail:
                raise StoreError(
                    f"Virtuoso may not read the bulk-load folder {self.folder}: {detail}",
                    expected="a folder listed in DirsAllowed of virtuoso.ini (the server must be restarted after changing it)",
                )
            raise StoreError(f"isql {self.host}:{self.port} as {self.user} failed: {detail}")
        return output

    # -- loading ------------------------------------------------------------------
    def new_run(self) -> Path:
        """A fresh sub-folder for this ingest's files (``load_list`` remembers every file path it loaded)."""
        return Path(tempfile.mkdtemp(prefix="tkg-load-", dir=self.folder))

    def load(self, path: Path) -> None:
        """Register and load one N-Quads file; raise with Virtuoso's message if it failed."""
        folder, name = _sql_string(str(path.parent)), _sql_string(path.name)
        registered = self.run(
            f"ld_dir({folder}, {name}, {_sql_string(FALLBACK_GRAPH)}); "
            f"select 'TKG-REGISTERED ' || cast(count(*) as varchar) from DB.DBA.load_list where ll_file = {_sql_string(str(path))};"
        )
        if "TKG-REGISTERED 0" in registered:
            raise StoreError(
                f"Virtuoso found no file {path.name} in {path.parent}: it does not see this machine's folder",
                expected="the Virtuoso store on this machine (the bulk loader reads files on the server's disk)",
            )
        outcome = self.run(
            "rdf_loader_run(); "
            "select 'TKG-FAILED ' || ll_file || ': ' || coalesce(ll_error, 'not loaded') from DB.DBA.load_list "
            f"where ll_file = {_sql_string(str(path))} and (ll_state <> 2 or ll_error is not null);"
        )
        failed = [line.strip()[len("TKG-FAILED ") :] for line in outcome.splitlines() if line.startswith("TKG-FAILED ")]
        if failed:
            raise StoreError(f"Virtuoso's bulk loader failed on {'; '.join(failed)}")

    def finish(self, run: Path) -> None:
        """Make the loads durable (``checkpoint``), forget this run's files in ``load_list`` and remove them."""
        self.run(f"checkpoint; delete from DB.DBA.load_list where ll_file like {_sql_string(str(run) + '/%')};")
        shutil.rmtree(run, ignore_errors=True)
