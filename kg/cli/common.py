"""Options and helpers shared by the commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

import click

from ..config import SETTINGS
from ..errors import TkgError

_STORE = next(s for s in SETTINGS if s.name == "store")
_UPDATE_URL = next(s for s in SETTINGS if s.name == "update_url")
_GSP_URL = next(s for s in SETTINGS if s.name == "gsp_url")

store_option = click.option(
    "--store",
    envvar=_STORE.env,
    default=_STORE.default,
    show_default=True,
    show_envvar=True,
    help=_STORE.help,
)


def remote_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --update-url and --gsp-url (TKG_UPDATE_URL, TKG_GSP_URL) to a command
    that takes --store: the command still receives one ``store`` argument, which
    carries both URLs to a remote store (``kg.stores.remote.StoreURL``)."""

    @functools.wraps(command)
    def wrapper(*args: Any, update_url: str | None = None, gsp_url: str | None = None, **kwargs: Any) -> Any:
        if (update_url or gsp_url) and kwargs.get("store"):
            from ..stores.remote import StoreURL

            kwargs["store"] = StoreURL(kwargs["store"], update_url, gsp_url)
        return command(*args, **kwargs)

    options = [
        click.option("--update-url", envvar=_UPDATE_URL.env, default=None, show_envvar=True, help=_UPDATE_URL.help),
        click.option("--gsp-url", envvar=_GSP_URL.env, default=None, show_envvar=True, help=_GSP_URL.help),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def bulk_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --bulk-dir, --isql and --isql-user (TKG_BULK_DIR, TKG_ISQL, TKG_ISQL_USER;
    the password only as TKG_ISQL_PASSWORD) to `tkg ingest`: carried to a remote
    store on its ``StoreURL``, as --update-url is."""

    @functools.wraps(command)
    def wrapper(*args: Any, bulk_dir: str | None = None, isql: str | None = None, isql_user: str | None = None, **kwargs: Any) -> Any:
        store = kwargs.get("store")
        if bulk_dir and store and not str(store).startswith(("http://", "https://")):
            fail(f"--bulk-dir is for a Virtuoso store (a SPARQL server URL); the store is {store}")
        if bulk_dir and store:
            from ..stores.remote import StoreURL

            urls = (getattr(store, "update_url", None), getattr(store, "gsp_url", None))
            kwargs["store"] = StoreURL(store, *urls, bulk_dir=bulk_dir, isql=isql, isql_user=isql_user)
        return command(*args, **kwargs)

    help_dir = (
        "Virtuoso store on this machine: a folder it may read (in DirsAllowed of virtuoso.ini). An ingest of 200 files or more "
        "writes the study graphs new to the store there as gzip N-Quads and loads them with Virtuoso's bulk loader through "
        "isql (password in TKG_ISQL_PASSWORD), and refuses a server that is not Virtuoso; graphs the store has already, "
        "and smaller ingests, go through the Graph Store Protocol."
    )
    options = [
        click.option("--bulk-dir", envvar="TKG_BULK_DIR", default=None, show_envvar=True, type=click.Path(file_okay=False), help=help_dir),
        click.option("--isql", envvar="TKG_ISQL", default=None, show_envvar=True, metavar="[HOST:]PORT",
                     help="Virtuoso's SQL port for --bulk-dir (default: the store URL's host, port 1111)."),
        click.option("--isql-user", envvar="TKG_ISQL_USER", default=None, show_envvar=True,
                     help="Virtuoso account for --bulk-dir (default: dba; needs DBA rights)."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


_KEEP = next(s for s in SETTINGS if s.name == "keep_releases")

keep_option = click.option(
    "--keep",
    type=click.IntRange(min=1),
    envvar=_KEEP.env,
    default=_KEEP.default,
    show_default=True,
    show_envvar=True,
    help="Published releases to keep (an embedded store); older ones go, except pinned ones, the current one and the one served until now.",
)


class CommandError(TkgError):
    """The command was well formed but cannot do its work (exit 1)."""


def fail(message: str) -> NoReturn:
    """Stop with ``error: message`` and exit 1: the input, the store or the
    environment is wrong. A malformed command line is click's ``UsageError``
    (exit 2). See "Exit codes" in the README."""
    raise CommandError(message)
