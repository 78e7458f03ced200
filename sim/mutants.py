"""Deliberately broken variants of our code, each one a hole the simulator must find (``tests/sim/test_mutants.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

MUTANTS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {}


@contextlib.contextmanager
def applied(name: str | None) -> Iterator[None]:
    if name is None:
        yield
        return
    with MUTANTS[name]():
        yield
