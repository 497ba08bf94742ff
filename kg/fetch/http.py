"""HTTP for the fetchers: a rate limit, retries with backoff, Retry-After, and
complete responses only.

Built on ``requests``. What it adds is hand-written because it is small and
specific to these services: a minimum spacing between request starts (NCBI
asks for at most 3 requests a second without an API key and 10 with one), a
retry loop that honours ``Retry-After`` on 429/503, and a check that the body
arrived whole (a response cut short by a dropped connection is retried, never
parsed as if it were complete).
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from ..errors import TkgError

#: Status codes worth retrying: the service is busy or briefly unavailable.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: Longest wait accepted from a Retry-After header (seconds); longer asks are capped.
MAX_RETRY_AFTER = 300.0


class FetchError(TkgError):
    """A remote service refused a request or could not be reached."""


class Truncated(Exception):
    """A response body was shorter than announced or did not parse."""


def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"tcell-kg/{version('tcell-kg')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "tcell-kg"


class RateLimiter:
    """At most ``rate`` request starts per second (spacing, no bursts), shared by threads."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self.sleep(start - now)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), MAX_RETRY_AFTER)


@dataclass
class Client:
    """GET requests to one service: rate-limited, retried, checked for completeness."""

    base_url: str
    service: str  # named in messages: "PubMed E-utilities", "ClinicalTrials.gov"
    rate: float = 3.0
    retries: int = 5
    backoff: float = 1.0  # first wait without Retry-After; doubles each retry
    timeout: float = 60.0
    params: Mapping[str, str] = field(default_factory=dict)  # sent with every request (tool, email, api_key)
    sleep: Callable[[float], None] = time.sleep
    describe_error: Callable[[requests.Response], str] | None = None
    requests_made: int = 0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise FetchError(f"invalid base URL {self.base_url!r}", expected="an http:// or https:// URL")
        self.base_url = self.base_url.rstrip("/") + "/"
        self.limiter = RateLimiter(self.rate, sleep=self.sleep)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent()
        self.retried: list[str] = []  # one line per retry, for the summary and tests

    def get(self, path: str, params: Mapping[str, Any], *, check: Callable[[bytes], Any] | None = None,
            accept_status: Callable[[int], bool] | None = None) -> tuple[int, bytes, Any]:
        """GET ``path`` and return (status, body, check(body)).

        ``check`` parses the body and raises :class:`Truncated` (or ValueError)
        when it is incomplete; such responses are retried like a 503.
        ``accept_status`` lets a caller take a 4xx it knows how to read.
        """
        url = self.base_url + path.lstrip("/")
        query = {**self.params, **{k: v for k, v in params.items() if v is not None}}
        attempt = 0
        while True:
            self.limiter.wait()
            self.requests_made += 1
            wait: float | None = None
            reason: str
            try:
                response = self.session.get(url, params=query, timeout=self.timeout)
                body = response.content  # raises on a body shorter than Content-Length (urllib3 enforces it)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:
                reason = f"connection problem ({type(exc).__name__})"
            else:
                status = response.status_code
                if status in RETRY_STATUS:
                    wait = retry_after(response.headers.get("Retry-After"))
                    reason = f"HTTP {status}"
                elif status >= 400 and not (accept_status and accept_status(status)):
                    raise FetchError(self._refusal(response), where=self.service)
                else:
                    try:
                        return status, body, (check(body) if check and status < 400 else None)
                    except (Truncated, ValueError) as exc:
                        reason = f"incomplete response ({exc})"
                if attempt >= self.retries and status in RETRY_STATUS:
                    raise FetchError(self._refusal(response) + f" (after {attempt + 1} attempts)", where=self.service)
            if attempt >= self.retries:
                raise FetchError(f"{reason} (after {attempt + 1} attempts)", where=f"{self.service} {url}")
            if wait is None:
                wait = self.backoff * (2**attempt) * (1 + random.random() / 4)
            self.retried.append(f"{path}: {reason}, retrying in {wait:.1f}s")
            self.sleep(wait)
            attempt += 1

    def _refusal(self, response: requests.Response) -> str:
        detail = self.describe_error(response) if self.describe_error else ""
        if not detail:
            text = " ".join(response.text.split())[:200]
            detail = text or response.reason or ""
        return f"refused the request (HTTP {response.status_code}): {detail}".rstrip(": ")

    def close(self) -> None:
        self.session.close()
