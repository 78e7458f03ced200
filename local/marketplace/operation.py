"""What an AWS operation is to the emulator: the services it serves, who called, the request an operation runs on
(under the world lock), and the :class:`Operation` record each operation's module declares (``catalog`` lists them).

Adding an operation: write its module (its rules, a ``run(request) -> (answer, summary)``, and the modelled errors it
answers with and when), then add its record to ``catalog.OPERATIONS``. The pipeline, the HTTP routing, the call log
and the conformance table (``CONFORMANCE.md``) follow from that record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .errors import ApiError
from .model_validation import Violation
from .world import World

# botocore's service names
METERING = "meteringmarketplace"
ENTITLEMENT = "marketplace-entitlement"
AGREEMENT = "marketplace-agreement"
CLOUDTRAIL = "cloudtrail"


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    region: str
    # what CloudTrail records of the caller (cloudtrail.py): its address and its SDK's User-Agent
    source_ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class Request:
    """One AWS call as its operation sees it; the caller holds the world lock."""

    world: World
    now: datetime
    caller: Caller
    params: dict[str, Any]
    # rolls one of the run-time fault switches for this call (``unprocessed_rate``, ``empty_page_rate``)
    roll: Callable[[str], bool]
    # sends the notifications of a lifecycle step the call makes (``notifications.messages``), delivered after the
    # call: ``emit(step, subscription, **extra)``; most operations change no agreement and send none
    emit: Callable[..., object] = lambda *step, **extra: None


# the answer's body, and what the call log keeps of it (``/admin/calls``)
Answer = tuple[dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    service: str
    name: str
    run: Callable[[Request], Answer]
    # each error code the operation answers with (its model's, and any other AWS answers it with), and when
    errors: Mapping[str, str]
    # who signs it: the seller (another account's credentials are refused AccessDeniedException), or anyone
    signed_by: Literal["seller", "buyer", "anyone"] = "seller"


@dataclass(frozen=True)
class Service:
    name: str
    # model violations as this service answers them
    validation_error: Callable[[list[Violation]], ApiError]
    # the model's name for a server fault
    server_fault: str = "InternalServiceErrorException"
