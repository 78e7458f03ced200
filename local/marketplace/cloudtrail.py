"""CloudTrail event history for the Metering Service calls the emulator received, and LookupEvents over it.

What is recorded: each BatchMeterUsage, MeterUsage and RegisterUsage call that reached the service (past the
signature and routing checks), whatever it answered, as the ``CloudTrailEvent`` record AWS documents for these
operations (README.md "CloudTrail" cites the sources): ``requestParameters`` and ``responseElements`` are the
request and answer with lowerCamel member names, timestamps written ``Apr 19, 2018 4:32:50 PM``; a refused call has
``errorCode``/``errorMessage`` and no ``responseElements``. A call whose response was lost was still received and
applied, so it is recorded with the answer it would have had. Nothing else is invented: no call, no event. The
record is kept as received and answered, and written out (``_rendered``) when it is looked up.

LookupEvents answers the way the CloudTrail API reference describes: events of the caller's Region from the last 90
days, newest first, at most one lookup attribute, ``StartTime``/``EndTime`` inclusive, ``MaxResults`` 1-50 (50 by
default), a ``NextToken`` valid only with the parameters it was issued for. Events become visible
``cloudtrail_delivery_delay_seconds`` after the call (0 by default; AWS delivers within about 15 minutes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from .clock import iso, timestamp_param
from .errors import ApiError
from .model_validation import Violation
from .operation import CLOUDTRAIL, Answer, Operation, Request
from .world import World

EVENT_SOURCE = "metering-marketplace.amazonaws.com"
# The Metering Service operations AWS documents CloudTrail entries for (API Reference, "Logging AWS Marketplace
# Metering API calls with CloudTrail"). ResolveCustomer is left out: its request carries a registration token.
RECORDED_OPERATIONS = ("BatchMeterUsage", "MeterUsage", "RegisterUsage")
RETENTION = timedelta(days=90)
DEFAULT_MAX_RESULTS = 50
# AWS's documented example spells the member CustomerAWSAccountId as "customerAWSAccountID".
MEMBER_NAMES = {"CustomerAWSAccountId": "customerAWSAccountID"}
# What each lookup attribute matches in a stored event.
ATTRIBUTE_FIELDS = {
    "EventId": "EventId",
    "EventName": "EventName",
    "ReadOnly": "ReadOnly",
    "Username": "Username",
    "EventSource": "EventSource",
    "AccessKeyId": "AccessKeyId",
}


def cloudtrail_time(moment: datetime) -> str:
    """A timestamp the way these CloudTrail entries show one: ``Apr 19, 2018 4:32:50 PM`` (UTC)."""
    moment = moment.astimezone(UTC)
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment:%b} {moment.day}, {moment.year} {hour}:{moment:%M:%S} {half}"


def _logged(value: Any, key: str = "") -> Any:
    """A request or response member as CloudTrail logs it: lowerCamel names, readable timestamps."""
    if isinstance(value, dict):
        return {_member(name): _logged(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_logged(item) for item in value]
    if key == "Timestamp" and isinstance(value, int | float | datetime) and not isinstance(value, bool):
        moment = value if isinstance(value, datetime) else datetime.fromtimestamp(float(value), UTC)
        return cloudtrail_time(moment)
    return value


def _member(name: str) -> str:
    return MEMBER_NAMES.get(name) or name[:1].lower() + name[1:]


def record_call(
    world: World,
    now: datetime,
    operation: str,
    params: dict[str, Any] | None,
    caller: Any,
    request_id: str,
    body: dict[str, Any] | None,
    error: ApiError | None,
) -> None:
    """Keep the CloudTrail event of one received Metering Service call (caller holds the world lock)."""
    if operation not in RECORDED_OPERATIONS:
        return
    account = str(world.config["seller_account_id"])
    user_name = "emulated-seller"
    at = iso(now)
    record: dict[str, Any] = {
        "eventVersion": "1.05",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": caller.access_key_id,
            "arn": f"arn:aws:iam::{account}:user/{user_name}",
            "accountId": account,
            "accessKeyId": caller.access_key_id,
            "userName": user_name,
        },
        "eventTime": at,
        "eventSource": EVENT_SOURCE,
        "eventName": operation,
        "awsRegion": caller.region,
        "sourceIPAddress": getattr(caller, "source_ip", "") or "127.0.0.1",
        "userAgent": getattr(caller, "user_agent", "") or "",
        "requestParameters": params if isinstance(params, dict) else None,
    }
    if error is not None:
        record["errorCode"] = error.code
        record["errorMessage"] = error.message
        record["responseElements"] = None
    else:
        record["responseElements"] = body
    record.update(
        {
            "requestID": request_id,
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        }
    )
    world.add_trail_event(
        {
            "EventId": record["eventID"],
            "EventName": operation,
            "ReadOnly": "false",
            "AccessKeyId": caller.access_key_id,
            "EventTime": at,
            # sorts and compares exactly (ISO text with and without fractions does not)
            "Epoch": now.timestamp(),
            # delivery is decided when the call is made: a later change of the delay does not move it
            "VisibleAt": now.timestamp() + float(world.config.get("cloudtrail_delivery_delay_seconds") or 0),
            "EventSource": EVENT_SOURCE,
            "Username": user_name,
            "Region": caller.region,
            # written as CloudTrail shows it when looked up (``_rendered``), not on every call
            "CloudTrailEvent": record,
        }
    )


def _rendered(event: Any) -> str:
    """The ``CloudTrailEvent`` text of a kept record: its request and answer as CloudTrail logs them (``_logged``). A
    state file of an earlier emulator kept the text itself."""
    if isinstance(event, str):
        return event
    logged = {
        **event,
        "requestParameters": _logged(event["requestParameters"]),
        "responseElements": _logged(event["responseElements"]),
    }
    return json.dumps(logged, separators=(",", ":"))


# -- LookupEvents ------------------------------------------------------------------------------------------------


def validation_error(violations: list[Violation]) -> ApiError:
    """CloudTrail names its own exception for each bad parameter instead of a generic ValidationException."""
    first = violations[0]
    if first.kind == "type":
        return ApiError("SerializationException", f"Cannot deserialize value at '{first.path}': {first.message}")
    if first.path.startswith("maxResults"):
        return ApiError("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
    if first.path.startswith("eventCategory"):
        return ApiError("InvalidEventCategoryException", f"Event category is not valid: {first.render()}")
    return ApiError("InvalidLookupAttributesException", first.render())


def _fingerprint(params: dict[str, Any]) -> str:
    asked = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _token(params: dict[str, Any], last: dict[str, Any]) -> str:
    data = {"f": _fingerprint(params), "t": last["Epoch"], "s": last["seq"]}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _after_token(params: dict[str, Any]) -> tuple[float, int] | None:
    token = params.get("NextToken")
    if token is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        position = (float(data["t"]), int(data["s"]))
        fingerprint = data["f"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ApiError("InvalidNextTokenException", "Invalid NextToken.") from exc
    if fingerprint != _fingerprint(params):
        # "This token must be passed in with the same parameters that were specified in the original call."
        raise ApiError("InvalidNextTokenException", "NextToken was issued for a request with other parameters.")
    return position


def lookup_events(world: World, now: datetime, region: str, params: dict[str, Any]) -> dict[str, Any]:
    """Answer LookupEvents from the events recorded in ``region`` (caller holds the world lock)."""
    attributes = params.get("LookupAttributes") or []
    if len(attributes) > 1:
        raise ApiError("InvalidLookupAttributesException", "You can specify only one lookup attribute.")
    start = timestamp_param(params["StartTime"]) if params.get("StartTime") is not None else None
    end = timestamp_param(params["EndTime"]) if params.get("EndTime") is not None else None
    if start is not None and end is not None and start > end:
        raise ApiError("InvalidTimeRangeException", "Start time must not be after end time.")
    after = _after_token(params)
    if params.get("EventCategory") == "insight":
        # No trail here enables Insights, so there are no Insights events to return.
        return {"Events": []}
    limit = int(params.get("MaxResults") or DEFAULT_MAX_RESULTS)
    oldest = now - RETENTION
    matched: list[dict[str, Any]] = []
    for event in world.trail:
        moment = datetime.fromtimestamp(event["Epoch"], UTC)
        if event["Region"] != region or event.get("VisibleAt", 0) > now.timestamp() or moment < oldest:
            continue
        if (start is not None and moment < start) or (end is not None and moment > end):
            continue
        if not all(_matches(event, attribute) for attribute in attributes):
            continue
        matched.append(event)
    matched.sort(key=lambda e: (e["Epoch"], e["seq"]), reverse=True)
    if after is not None:
        matched = [e for e in matched if (e["Epoch"], e["seq"]) < after]
    page = matched[:limit]
    answer: dict[str, Any] = {"Events": [_shown(e) for e in page]}
    if len(matched) > limit:
        answer["NextToken"] = _token(params, page[-1])
    return answer


def _matches(event: dict[str, Any], attribute: dict[str, Any]) -> bool:
    key, value = attribute["AttributeKey"], attribute["AttributeValue"]
    field = ATTRIBUTE_FIELDS.get(key)
    # ResourceType / ResourceName: these Metering Service events name no resources.
    return field is not None and event.get(field) == value


def _shown(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "EventId": event["EventId"],
        "EventName": event["EventName"],
        "ReadOnly": event["ReadOnly"],
        "AccessKeyId": event["AccessKeyId"],
        "EventTime": datetime.fromtimestamp(event["Epoch"], UTC),
        "EventSource": event["EventSource"],
        "Username": event["Username"],
        "Resources": [],
        "CloudTrailEvent": _rendered(event["CloudTrailEvent"]),
    }


def _lookup_events(request: Request) -> Answer:
    result = lookup_events(request.world, request.now, request.caller.region, request.params)
    return result, {"events": len(result["Events"])}


LOOKUP_EVENTS = Operation(
    CLOUDTRAIL,
    "LookupEvents",
    _lookup_events,
    {
        "InvalidLookupAttributesException": "more than one lookup attribute, or one the model refuses",
        "InvalidTimeRangeException": "StartTime after EndTime",
        "InvalidMaxResultsException": "MaxResults outside 1 to 50",
        "InvalidNextTokenException": "a NextToken issued for other parameters",
        "InvalidEventCategoryException": "an EventCategory the model refuses",
    },
    signed_by="anyone",
)
