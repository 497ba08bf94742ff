"""The one progress bar of the command line (tqdm on standard error).

Shown only when asked for and when standard error is a terminal, so logs,
pipes and tests get none.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress_bar(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str, unit: str, enabled: bool = True) -> Any:
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, disable=not (enabled and sys.stderr.isatty()))
