"""The Lambda entry points: one module per function, its ``handler``.

Importing one is the function's cold start (Lambda's init phase): it and the libraries it needs leave over a hundred
thousand objects that live as long as the process, and the collections the import triggers on the way walk them over
and over (on Python 3.13, Lambda's, about 40 young and 3 middle collections, none full; on 3.11 a full one of about
14 ms too). So collection is paused from here, the first code any handler module runs, until that module's last line
calls ``imported``: what is alive then is frozen (``gc.freeze``: no later collection walks it, in warm invocations
too) and collection goes on. About a tenth of every cold start, boto3's own import included (bench/cold_start.py).

What it costs: the little cyclic garbage the import makes is frozen with the rest, never freed (about 330 objects,
90 KiB, in Lambda's environment). A handler module imported for anything else (the CLI, the local stack, tests)
pauses and resumes the same way, but only the first in a process pauses; and one whose import fails leaves collection
off in a process that goes on (in Lambda a failed init ends the process).
"""

import gc

_COLLECTING = gc.isenabled()  # as the importer left it
gc.disable()


def imported() -> None:
    """The handler module is imported: keep what is alive out of every later collection, and collect again."""
    gc.freeze()
    if _COLLECTING:
        gc.enable()
