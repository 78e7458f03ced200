"""SnapStart: a restored copy draws its own random numbers and builds its own clients; the hook is registered with
Lambda's runtime."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable, Iterator

import pytest

from functions import snapstart
from functions.settings import Settings
from functions.wiring import aws_clients


@pytest.fixture
def lambda_runtime() -> Iterator[list[Callable[[], None]]]:
    """Lambda's ``snapshot_restore_py`` as its runtime provides it: it keeps the registered hooks."""
    registered: list[Callable[[], None]] = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_after_restore = registered.append  # type: ignore[attr-defined]
    sys.modules["snapshot_restore_py"] = module
    yield registered
    del sys.modules["snapshot_restore_py"]


def test_a_restored_copy_draws_other_numbers_than_the_snapshot_would() -> None:
    random.seed(7)  # the state every copy of the snapshot would share
    snapshot_draws = [random.random() for _ in range(3)]
    random.seed(7)
    snapstart.after_restore()()
    assert [random.random() for _ in range(3)] != snapshot_draws


def test_a_restored_copy_builds_its_clients_and_wiring_anew() -> None:
    settings = Settings(dynamodb_endpoint="http://127.0.0.1:1")
    before = aws_clients.dynamodb_client(settings)
    cleared: list[str] = []
    snapstart.after_restore(lambda: cleared.append("wiring"))()
    assert aws_clients.dynamodb_client(settings) is not before
    assert cleared == ["wiring"]


def test_the_hook_is_registered_with_lambdas_runtime(lambda_runtime: list[Callable[[], None]]) -> None:
    snapstart.register()
    assert len(lambda_runtime) == 1
