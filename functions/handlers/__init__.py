"""The Lambda entry points: one module per function, its ``handler``.

Importing one is the function's cold start (Lambda's init phase): it and the libraries it needs create tens of
thousands of objects that live as long as the process, and almost no garbage; yet each full garbage collection those
imports trigger walks them all, about 14 ms each (bench/cold_start.py). So collection is paused from here, the first
code any handler module runs, until that module's last line calls ``imported``: what was imported is frozen (later
collections, in warm invocations too, never walk it again) and collection goes on. A handler module imported for
anything else (the CLI, the local stack, tests) resumes it the same way.
"""

import gc

_COLLECTING = gc.isenabled()  # as the importer left it
gc.disable()


def imported() -> None:
    """The handler module is imported: keep what it imported out of every later collection, and collect again."""
    gc.freeze()
    if _COLLECTING:
        gc.enable()
