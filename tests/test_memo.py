"""kg.artifacts.ReleaseMemo: a value computed once per (store, release, key),
also when several threads ask for it at the same time (a page's first view
from eight clients)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from kg.artifacts import ReleaseMemo


def _graph() -> SimpleNamespace:
    return SimpleNamespace(store=object())  # (the memo keys on the store's identity and the release)


def test_callers_asking_while_a_value_is_computed_wait_for_it():
    memo, kg = ReleaseMemo(8), _graph()
    calls: list[int] = []
    release = threading.Event()

    def compute() -> str:
        calls.append(1)
        release.wait(10)
        return "page"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(memo.get(kg, "k", compute, release="r1"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # every thread has asked by now; the first is still computing
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == ["page"] * 8
    assert len(calls) == 1


def test_other_keys_and_releases_are_computed_on_their_own():
    memo, kg = ReleaseMemo(8), _graph()
    assert memo.get(kg, "a", lambda: 1, release="r1") == 1
    assert memo.get(kg, "b", lambda: 2, release="r1") == 2
    assert memo.get(kg, "a", lambda: 3, release="r2") == 3
    assert memo.get(kg, "a", lambda: 4, release="r1") == 1  # kept


def test_a_failed_computation_is_not_kept_and_a_waiter_computes_again():
    memo, kg = ReleaseMemo(8), _graph()
    started, fail = threading.Event(), threading.Event()

    def failing() -> str:
        started.set()
        fail.wait(10)
        raise RuntimeError("store went away")

    errors: list[Exception] = []

    def first() -> None:
        try:
            memo.get(kg, "k", failing, release="r1")
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    started.wait(10)
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append(memo.get(kg, "k", lambda: "second try", release="r1")))
    waiter.start()
    time.sleep(0.2)
    assert not got  # it waits for the computation in progress
    fail.set()
    thread.join(10)
    waiter.join(10)
    assert len(errors) == 1 and got == ["second try"]
    with pytest.raises(ValueError):
        memo.get(kg, "other", lambda: int("x"), release="r1")
    assert memo.get(kg, "other", lambda: 5, release="r1") == 5  # the error was not kept
