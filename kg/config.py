"""Settings, each declared once with its name, default and help.

Config flows one way: defaults -> environment (TKG_*) -> CLI flags -> one
:class:`Settings` object -> constructors. ``docs/configuration.md`` documents
every setting (a test checks it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    type: type = str

    @property
    def env(self) -> str:
        return "TKG_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("store", "var", "Store URL: a directory (embedded Oxigraph), `memory:`, or a SPARQL server URL."),
    Setting("update_url", "", "SPARQL Update endpoint of a remote server, when it differs from the store URL."),
    Setting("gsp_url", "", "Graph Store Protocol endpoint of a remote server, when it differs from the store URL."),
    Setting(
        "bulk_dir",
        "",
        "Folder on this machine that a Virtuoso store may read (in its DirsAllowed): `tkg ingest` loads the study graphs "
        "new to the store through Virtuoso's bulk loader from there; empty: the Graph Store Protocol.",
    ),
    Setting("isql", "", "Virtuoso's SQL port for the bulk loader: PORT or HOST:PORT (default: the store URL's host, port 1111)."),
    Setting("isql_user", "dba", "Virtuoso account that runs the bulk loader through isql (needs DBA rights)."),
    Setting("isql_password", "", "Password of the isql account (environment only: no flag, so it stays out of shell history)."),
    Setting("host", "127.0.0.1", "Address `tkg serve` listens on."),
    Setting("port", 5000, "Port `tkg serve` listens on.", int),
    Setting("query_timeout", 10.0, "Seconds a SPARQL query may run before it is stopped.", float),
    Setting("max_rows", 10000, "Most rows a SELECT returns over HTTP; longer results are truncated and flagged.", int),
    Setting("max_body", 1_000_000, "Largest request body accepted, in bytes (413 above).", int),
    Setting("update_token", "", "Bearer token enabling SPARQL Update on /sparql; empty disables updates."),
    Setting("workers", 2, "Query worker processes of `tkg serve`.", int),
    Setting("rate_limit", "60/minute", "Requests per client address to /sparql, e.g. `60/minute`; 0 or empty disables it (429 above)."),
    Setting("keep_releases", 3, "Published releases a store keeps (besides pinned ones); older ones are removed at publish.", int),
    Setting("base_url", "", "Public base URL of `tkg serve` for absolute links (Atom feed, VoID, redirects); empty: http://HOST:PORT/."),
    Setting("state_dir", "", "Folder of watches, feed and changelog; empty: the store directory (./tkg-state for a SPARQL server store)."),
    Setting("trusted_proxies", 0, "Reverse proxies whose X-Forwarded-For names the client (0: use the socket peer).", int),
    Setting("request_timeout", 30.0, "Seconds a client has to send a whole request to `tkg serve` (and to stay silent).", float),
    Setting("connections", 1000, "Most connections `tkg serve` holds open at once (new ones wait in the listen queue).", int),
    Setting("client_queries", 1, "SPARQL queries one client (address) may have running or queued at once on /sparql (429 above).", int),
    Setting("queue_timeout", 5.0, "Seconds a /sparql query waits for a free query worker (503 with Retry-After after it).", float),
    Setting("worker_memory", 0, "Address-space cap of each query worker in MiB (503 above); 0: derived from the machine's memory.", int),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def version() -> str:
    """The installed package's version (release folders, VoID, SSSOM)."""
    try:
        return metadata.version("tcell-kg")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class Settings(dict):
    """The resolved settings (a dict with attribute access)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def resolve(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values = Settings()
    for setting in SETTINGS:
        value: Any = setting.default
        if setting.env in environ and environ[setting.env] != "":
            value = environ[setting.env]
        if overrides and overrides.get(setting.name) is not None:
            value = overrides[setting.name]
        try:
            values[setting.name] = setting.type(value)
        except (TypeError, ValueError):
            raise ConfigError(f"invalid value {value!r} for setting {setting.name}", expected=setting.type.__name__) from None
    for name in overrides or {}:
        if name not in _BY_NAME:
            raise ConfigError(f"unknown setting {name!r}", expected="one of " + ", ".join(_BY_NAME))
    return values
