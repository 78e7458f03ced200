"""The OpenAPI document of the deployed API (``POST /usage`` and the registration routes), built from the code.

Request bodies come from what validates them: the usage body is the pydantic model's JSON Schema (the model that
``parse_batch`` validates with), the registration forms are described from the handler's own constants (the
onboarding form's fields are the seller's ``contact_fields``, so the document names only the signed value).
Responses list every status the handlers and API Gateway answer with; the property tests
(``tests/integration/test_api_properties.py``) check every answer they provoke against this document, so an
undocumented status or body shape fails there.

Why not Powertools' ``get_openapi_schema``: it describes bodies only for routes taking ``Body`` parameters, which
needs ``enable_validation=True``; that answers bad input with Powertools' own 422 before the handlers' checks
(content type, size, base64, nesting depth; every bad field named, "no event was stored"), and would put the
registration handler on pydantic, which its cold start avoids. The document is built here instead, beside the code.
"""

from __future__ import annotations

from typing import Any

from functions.handlers import registration as registration_handler
from functions.handlers import usage as usage_handler
from functions.registration import service as registration_service
from functions.registration import signing
from functions.usage.schema import MAX_EVENTS, UsageBatchIn

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1"
SIGV4 = "sigv4"
# API Gateway's REST API URL, as the stack's UsageApiUrl / FulfillmentUrl outputs name it
DEPLOYED_SERVER = {
    "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
    "description": "the deployed stack (outputs UsageApiUrl and FulfillmentUrl)",
    "variables": {
        "restApiId": {"default": "restApiId", "description": "the stack's REST API id"},
        "region": {"default": "us-east-1", "description": "the stack's Region"},
        "stage": {"default": "prod"},
    },
}
LOCAL_SERVER = {"url": "http://127.0.0.1:3000", "description": "`make run`'s local API Gateway"}

JSON = "application/json"
FORM = registration_handler.FORM_CONTENT_TYPE
HTML = "text/html"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_answer(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {HTML: {"schema": {"type": "string"}}}}


def _usage_schemas() -> dict[str, Any]:
    batch = UsageBatchIn.model_json_schema(mode="validation", ref_template="#/components/schemas/{model}")
    definitions = batch.pop("$defs")
    field_error = {
        "type": "object",
        "properties": {
            "field": {"type": "string", "description": 'the bad field, e.g. "events[3].quantity", or "body"'},
            "message": {"type": "string"},
        },
        "required": ["field", "message"],
        "additionalProperties": False,
    }
    return {
        **definitions,
        "UsageBatchIn": batch,
        "UsageAccepted": {
            "type": "object",
            "description": "every event of the batch is stored once: new ones accepted, repeated ids duplicates",
            "properties": {
                "accepted": {"type": "integer", "minimum": 0},
                "duplicates": {"type": "integer", "minimum": 0},
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "event_id": {"type": "string"},
                            "status": {"enum": ["accepted", "duplicate"]},
                        },
                        "required": ["event_id", "status"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["accepted", "duplicates", "results"],
            "additionalProperties": False,
        },
        "FieldError": field_error,
        "UsageRefused": {
            "type": "object",
            "description": "nothing of the batch was stored",
            "properties": {
                "message": {"const": "no event was stored"},
                "errors": {"type": "array", "items": _ref("FieldError")},
            },
            "required": ["message", "errors"],
            "additionalProperties": False,
        },
        "Message": {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
    }


def _form_schemas() -> dict[str, Any]:
    token = registration_handler.TOKEN_FIELD
    return {
        "RegistrationForm": {
            "type": "object",
            "description": "what AWS Marketplace's page posts from the buyer's browser after they subscribe",
            "properties": {
                token: {
                    "type": "string",
                    "pattern": registration_service.REGISTRATION_TOKEN.pattern,
                    "description": "the registration token ResolveCustomer takes; single use, expiring; never logged",
                },
                registration_handler.OFFER_TYPE_FIELD: {
                    "type": "string",
                    "description": "`free-trial` for a free-trial offer: a claim until AWS Marketplace confirms it",
                },
            },
            "required": [token],
        },
        "Form": {"type": "object", "additionalProperties": {"type": "string"}},
        "TenantLinkForm": {
            "type": "object",
            "description": "posted by the seller's sign-up page once it has created the buyer's account",
            "properties": {
                signing.TENANT_LINK_FIELD: {
                    "type": "string",
                    "description": (
                        "signing.tenant_link(claims, tenant_id, secret): the sign-up value's customer and the "
                        f"seller's tenant id, HMAC-signed with the registration secret, valid "
                        f"{signing.TENANT_LINK_TTL_SECONDS} s"
                    ),
                },
            },
            "required": [signing.TENANT_LINK_FIELD],
        },
        "CompletionForm": {
            "type": "object",
            "description": (
                "our onboarding page's form: the signed value it was issued with, and the buyer's details in the "
                "fields the seller asks for (each checked on its own; a bad one shows the form again naming it)"
            ),
            "properties": {
                registration_handler.COMPLETION_FIELD: {
                    "type": "string",
                    "description": "the HMAC-signed, expiring value the onboarding page carries",
                },
            },
            "additionalProperties": {"type": "string"},
            "required": [registration_handler.COMPLETION_FIELD],
        },
    }


def _usage_path() -> dict[str, Any]:
    retry = "send the same batch again, with the same event ids and timestamps (events already stored count once)"
    return {
        "post": {
            "operationId": "postUsage",
            "summary": "Record a batch of usage events",
            "description": (
                f"At most {MAX_EVENTS} events and {usage_handler.MAX_BODY_BYTES} bytes of body per request. Every "
                "event is validated before any is stored: a refusal stores nothing and names each bad field. An "
                "event's identity is its `event_id` within the hour of its `timestamp` (ISO 8601 with a time zone; "
                "always send one): sending it again counts it once."
            ),
            "security": [{SIGV4: []}],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("UsageBatchIn")}}},
            "responses": {
                "200": _json_answer(
                    "stored: each event accepted (new) or a duplicate (stored before)", "UsageAccepted"
                ),
                "400": _json_answer("the body is not a JSON object, or not valid JSON or base64", "UsageRefused"),
                "403": _json_answer("API Gateway: not signed (SigV4) by a principal allowed to invoke it", "Message"),
                "413": _json_answer(f"the body is larger than {usage_handler.MAX_BODY_BYTES} bytes", "UsageRefused"),
                "415": _json_answer(f"the content type is not {JSON}", "UsageRefused"),
                "422": _json_answer("an event is invalid (each bad field named): nothing was stored", "UsageRefused"),
                "429": _json_answer(f"API Gateway's throttle: {retry}, after a pause", "Message"),
                "500": _json_answer(
                    "API Gateway could not invoke the function (Lambda's throttling is answered 500), or the usage "
                    f"store refused the batch: {retry}, after a pause (if the store refused it, the seller is alerted)",
                    "Message",
                ),
                "502": _json_answer(f"API Gateway could not run the function: {retry}", "Message"),
                "503": _json_answer(f"storage is busy: {retry}", "Message"),
                "504": _json_answer(f"API Gateway timed out: {retry}", "Message"),
            },
        }
    }


def _registration_statuses() -> dict[int, str]:
    """Every page the registration routes answer with: the handler's error pages and its request checks."""
    statuses: dict[int, list[str]] = {}
    for status, title, _ in registration_handler.ERROR_PAGES.values():
        statuses.setdefault(status, []).append(title)
    statuses.setdefault(500, []).append("Something went wrong")
    for status, why in ((400, "Request not accepted"), (413, "the form is too large"), (415, "not a form post")):
        statuses.setdefault(status, []).append(why)
    return {status: "; ".join(dict.fromkeys(titles)) for status, titles in sorted(statuses.items())}


def _form_post(operation_id: str, summary: str, schema: str, answers: dict[str, Any]) -> dict[str, Any]:
    errors = {str(status): _page(titles) for status, titles in _registration_statuses().items()}
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": f"At most {registration_handler.MAX_BODY_BYTES} bytes and {registration_handler.MAX_FIELDS} "
        "fields. Every answer is an HTML page with the security headers.",
        "security": [],
        "requestBody": {"required": True, "content": {FORM: {"schema": _ref(schema)}}},
        "responses": {**answers, **errors},
    }


def _explained(operation_id: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": "A page explaining the address (reached by a bookmark or a reload)",
        "security": [],
        "responses": {"405": _page("this address takes form posts only (`Allow: POST`)")},
    }


def _registration_paths() -> dict[str, Any]:
    described = {
        "/register": _form_post(
            "postRegister",
            "The fulfillment URL: AWS Marketplace's form post after a buyer subscribes",
            "RegistrationForm",
            {
                "200": _page("our onboarding page, bound to this buyer by a signed, expiring value"),
                "303": _page("on to the seller's own sign-up page (`Location`)"),
            },
        ),
        "/register/complete": _form_post(
            "postRegisterComplete",
            "The onboarding form: the buyer's contact details",
            "CompletionForm",
            {"200": _page("the confirmation page"), "422": _page("the form again, each bad field named")},
        ),
        "/register/tenant": _form_post(
            "postRegisterTenant",
            "The seller's sign-up page links the buyer's account (its tenant id) to the subscription",
            "TenantLinkForm",
            {"200": _page("linked (posting the same link again changes nothing)")},
        ),
    }
    # every route the registration handler serves (its resolver's table): one not described above is a form post
    # described by its function's docstring, so a new route is in the document as soon as `make docs` runs
    paths: dict[str, Any] = {}
    app = registration_handler.app
    for route in sorted((*app._static_routes, *app._dynamic_routes), key=lambda r: (r.path, r.method)):
        name = "".join(part.capitalize() for part in route.path.split("/"))
        method = route.method.lower()
        if method == "get":
            operation = _explained(f"get{name}")
        else:
            summary = (route.func.__doc__ or route.path).strip().splitlines()[0]
            operation = described.get(route.path) or _form_post(
                f"post{name}", summary, "Form", {"200": _page("the page saying it is done")}
            )
        paths.setdefault(route.path, {})[method] = operation
    return paths


def openapi() -> dict[str, Any]:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "AWS Marketplace SaaS metering API",
            "version": API_VERSION,
            "description": (
                "Generated by `make docs` (docs/openapi.py) from the models that validate requests; "
                "tests/unit/test_generated_docs.py fails when it drifts. `make run` serves it at /_local/openapi.json."
            ),
        },
        "servers": [DEPLOYED_SERVER, LOCAL_SERVER],
        "paths": {"/usage": _usage_path(), **_registration_paths()},
        "components": {
            "schemas": {**_usage_schemas(), **_form_schemas()},
            "securitySchemes": {
                SIGV4: {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4 (service execute-api) by a principal granted "
                    "execute-api:Invoke on the method; `make run` takes its printed x-api-key instead",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                },
            },
        },
    }
