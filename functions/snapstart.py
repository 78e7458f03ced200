"""Lambda SnapStart: what copies restored from one snapshot must not share.

With SnapStart (``snap_start`` in cdk.json) Lambda runs a function's import once, snapshots the process, and starts
every later copy from that snapshot. Whatever the import left behind is then the same in every copy: the ``random``
module's state (so every copy would draw the same retry jitter: a thundering herd against a throttled API), and
anything built before the snapshot (clients, their connections, the credentials they resolved), long stale once a
copy runs. Our handlers build nothing at import, and the caches below are cleared on restore all the same. A change
that warms them early should do it in a before-snapshot hook, not at import: what a handler's import leaves is frozen
(functions.handlers), so a client built there and dropped on restore would never be freed.

The hooks come from ``snapshot_restore_py``, which only Lambda's Python runtime provides; elsewhere there is
nothing to register.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from functions.wiring.aws_clients import clear_clients


def after_restore(*clear: Callable[[], None]) -> Callable[[], None]:
    """What a restored copy runs first: a fresh random state, no client or wiring of the snapshot's time."""

    def restored() -> None:
        random.seed()  # from os.urandom, which differs per copy
        clear_clients()
        for cache_clear in clear:
            cache_clear()

    return restored


def register(*clear: Callable[[], None]) -> None:
    """Register ``after_restore`` with the SnapStart runtime (a handler's import calls this: hooks must be registered
    before the snapshot, and a handler module's import is all that runs before it)."""
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:  # not Lambda's Python runtime: no snapshot is ever taken
        return
    register_after_restore(after_restore(*clear))
