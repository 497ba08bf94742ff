"""Options and helpers shared by the commands."""

from __future__ import annotations

from typing import NoReturn

import click

from ..config import SETTINGS

_STORE = next(s for s in SETTINGS if s.name == "store")

store_option = click.option(
    "--store",
    envvar=_STORE.env,
    default=_STORE.default,
    show_default=True,
    show_envvar=True,
    help=_STORE.help,
)


def fail(message: str) -> NoReturn:
    raise click.UsageError(message)
