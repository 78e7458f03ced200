"""What happens to an agreement after it is made: confirm, fail, unsubscribe, finalize, renew, advance notice of its
end, changed entitlements, fresh registration tokens, AWS failing a refund it took, and what the passage of emulator
time implies (``tick``).

Each step changes the subscription record and emits the notifications AWS sends for it (``notifications``) under the
world lock; the notifications are delivered after the lock is released. Subscription statuses are those of
``world.SUBSCRIPTION_STATUSES``; a step asked of an agreement in the wrong status is refused with 409.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import agreements, billing_adjustments, cancellations, entitlement
from .clock import iso, parse_iso
from .errors import AdminError
from .queries import describe_subscription, find_subscription
from .state import EmulatorState
from .world import UNSUBSCRIBING, Subscription, Token, World, new_registration_token

if TYPE_CHECKING:
    # A step answers with the agreement to describe (a renewal's is the new one) and extra fields for the answer.
    StepResult = tuple[Subscription, dict[str, Any]]
    Step = Callable[[EmulatorState, Subscription, datetime, dict[str, Any]], StepResult]


def tick(mp: EmulatorState) -> None:
    """Apply what the passage of emulator time implies: finalize subscriptions whose grace ran out.

    There is no timer thread: every AWS call and admin request calls this first, and a clock move right after
    moving, so whatever the seller's code or a test sees is up to date however far the clock was moved.
    """
    with mp.lock:
        now = mp.now()
        grace = timedelta(seconds=float(mp.world.config["unsubscribe_grace_seconds"]))
        world = mp.world
        world.unsubscribing = {a for a in world.unsubscribing if world.subscriptions[a].status == UNSUBSCRIBING}
        due = [
            sub
            for sub in (world.subscriptions[a] for a in world.unsubscribing)
            if sub.unsubscribed_at and now >= parse_iso(str(sub.unsubscribed_at)) + grace
        ]
        order = {agreement: n for n, agreement in enumerate(world.subscriptions)} if len(due) > 1 else {}
        for sub in sorted(due, key=lambda sub: order.get(sub.agreement_id, 0)):  # in the order they were made
            finalize(mp, sub, now)
        if due:
            mp.persist()


def step(mp: EmulatorState, agreement_id: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one lifecycle step (an admin route's last path segment) and answer with the agreement it leaves."""
    body = body or {}
    with mp.lock:
        sub = find_subscription(mp.world, agreement_id)
        run = STEPS.get(action)
        if run is None:
            raise AdminError(f"unknown action {action!r}", 404)
        sub, extra = run(mp, sub, mp.now(), body)
        mp.persist()
        result = describe_subscription(mp.world, sub)
        result.update(extra)
    mp.flush_notifications()
    return result


def fail_billing_adjustment(mp: EmulatorState, request_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """AWS fails a billing adjustment it took (``billing_adjustments.fail``) and, unless ``notify`` is false (an event
    lost on its way, for a test of the seller's recovery), sends its Failed event. Answers the adjustment as kept."""
    body = body or {}
    notify, message = body.get("notify", True), body.get("status_message", billing_adjustments.FAILED_MESSAGE)
    if not isinstance(notify, bool):
        raise AdminError("notify must be true or false")
    if not isinstance(message, str) or len(message) > billing_adjustments.STATUS_MESSAGE_MAX:
        raise AdminError(f"status_message must be text of at most {billing_adjustments.STATUS_MESSAGE_MAX} characters")
    with mp.lock:
        now = mp.now()
        adjustment = billing_adjustments.fail(mp.world, request_id, iso(now), message)
        if notify:
            sub = mp.world.subscriptions[str(adjustment["agreementId"])]
            mp.hub.emit(mp.world, "billing_adjustment", sub, now, adjustment=adjustment)
        mp.persist()
        result = {k: v for k, v in adjustment.items() if k != "fingerprint"}
    mp.flush_notifications()
    return result


# -- the steps, shared with subscribe and tick (caller holds the world lock) ---------------------------------------


def issue_token(world: World, sub: Subscription, now: datetime) -> Token:
    ttl = timedelta(seconds=float(world.config["token_ttl_seconds"]))
    token = Token(new_registration_token(), sub.agreement_id, iso(now), iso(now + ttl))
    world.tokens[token.token] = token
    return token


def confirm(mp: EmulatorState, sub: Subscription, now: datetime) -> None:
    sub.status = "active"
    sub.confirmed_at = iso(now)
    if not sub.entitlements:
        sub.entitlements = entitlement.default_entitlements(mp.world.products[sub.product_code], now)
    mp.hub.emit(mp.world, "subscribe", sub, now)


def finalize(mp: EmulatorState, sub: Subscription, now: datetime) -> None:
    sub.status = "ended"
    sub.ended_at = iso(now)
    mp.hub.emit(mp.world, "finalize", sub, now)


def _require(sub: Subscription, status: str) -> None:
    if sub.status != status:
        raise AdminError(f"agreement is {sub.status}, not {status}", 409)


def _unsubscribe(mp: EmulatorState, sub: Subscription, now: datetime) -> None:
    sub.status = UNSUBSCRIBING
    sub.unsubscribed_at = iso(now)
    mp.world.unsubscribing.add(sub.agreement_id)
    mp.hub.emit(mp.world, "unsubscribe", sub, now)


# -- one function per admin action ---------------------------------------------------------------------------------


def _confirm_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    _require(sub, "pending")
    confirm(mp, sub, now)
    return sub, {}


def _fail_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    _require(sub, "pending")
    sub.status = "failed"
    sub.ended_at = iso(now)
    mp.hub.emit(mp.world, "subscribe_fail", sub, now)
    return sub, {}


def _unsubscribe_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    _require(sub, "active")
    _unsubscribe(mp, sub, now)
    return sub, {}


def _finalize_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    # Finalizing an active agreement is an unsubscribe and its finalize at once: both steps' notifications are sent.
    if sub.status == "active":
        _unsubscribe(mp, sub, now)
    if sub.status != "unsubscribe_pending":
        raise AdminError(f"agreement is {sub.status}, cannot be finalized", 409)
    finalize(mp, sub, now)
    return sub, {}


def _tokens_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    token = issue_token(mp.world, sub, now)
    return sub, {"registration_token": token.token, "token_expires_at": token.expires_at}


def _entitlements_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    try:
        sub.entitlements = [entitlement.normalize_entitlement(e) for e in body.get("entitlements", [])]
    except ValueError as exc:
        raise AdminError(str(exc)) from exc
    mp.hub.emit(mp.world, "entitlements", sub, now)
    return sub, {}


def _renew_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    """A renewal: a new agreement takes over the licence; the renewed one is no longer live ("replaced").

    Answers with the new agreement: it holds the licence now, so the seller's metering by licence bills it.
    """
    _require(sub, "active")
    try:
        renewal = agreements.renewal_of(sub, mp.world.products[sub.product_code], now, body)
    except ValueError as exc:
        raise AdminError(str(exc)) from exc
    sub.status = "replaced"
    sub.ended_at = iso(now)
    sub.replaced_by = renewal.agreement_id
    mp.world.add_subscription(renewal)
    mp.hub.emit(mp.world, "renew", renewal, now)
    return renewal, {}


def _ending_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    days = body.get("days_before_end", 30)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise AdminError("days_before_end must be a positive whole number of days")
    _require(sub, "active")
    mp.hub.emit(mp.world, "ending", sub, now, days_before_end=days)
    return sub, {}


def _cancellation_approve_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    """The buyer approves the seller's cancellation request (AcceptAgreementCancellationRequest): the request's event,
    then the agreement is cancelled as a buyer's own cancellation is (unsubscribed: metered until it is finalized, when
    ``unsubscribe_grace_seconds`` have passed)."""
    request = cancellations.pending_request(mp.world, sub)
    cancellations.decide(request, cancellations.APPROVED, now)
    mp.hub.emit(mp.world, "cancellation", sub, now, cancellation=request)
    if sub.status == "pending":
        sub.status = "failed"
        sub.ended_at = iso(now)
        return sub, {"cancellation": cancellations.answer(request)}
    _unsubscribe(mp, sub, now)
    return sub, {"cancellation": cancellations.answer(request)}


def _cancellation_reject_step(mp: EmulatorState, sub: Subscription, now: datetime, body: dict[str, Any]) -> StepResult:
    """The buyer rejects it (RejectAgreementCancellationRequest): the agreement goes on."""
    request = cancellations.pending_request(mp.world, sub)
    cancellations.decide(request, cancellations.REJECTED, now)
    mp.hub.emit(mp.world, "cancellation", sub, now, cancellation=request)
    return sub, {"cancellation": cancellations.answer(request)}


STEPS: dict[str, Step] = {
    "confirm": _confirm_step,
    "fail": _fail_step,
    "unsubscribe": _unsubscribe_step,
    "finalize": _finalize_step,
    "tokens": _tokens_step,
    "entitlements": _entitlements_step,
    "renew": _renew_step,
    "ending": _ending_step,
    "cancellation_approve": _cancellation_approve_step,
    "cancellation_reject": _cancellation_reject_step,
}
