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
            "description": (
                "nothing of the batch was stored by this request; `results` lists its events that an earlier request"
                " stored exactly as sent (a resend after a lost answer): they count once, as stored"
            ),
            "properties": {
                "message": {"type": "string"},
                "errors": {"type": "array", "items": _ref("FieldError")},
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"event_id": {"type": "string"}, "status": {"const": "duplicate"}},
                        "required": ["event_id", "status"],
                        "additionalProperties": False,
                    },
                },
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
        "SignupExchangeForm": {
            "type": "object",
            "description": "posted by the seller's back end (server to server): signing.signup_exchange(value, secret)",
            "properties": {
                signing.SIGNUP_PARAMETER: {
                    "type": "string",
                    "description": (
                        f"the value the seller's sign-up page was sent in its URL: valid {signing.SIGNUP_TTL_SECONDS} "
                        "s, exchanged once (the same request again answers the same claims)"
                    ),
                },
                signing.SIGNATURE_FIELD: {
                    "type": "string",
                    "description": "HMAC-SHA256 of the value with the registration secret: only the seller can sign",
                },
            },
            "required": [signing.SIGNUP_PARAMETER, signing.SIGNATURE_FIELD],
        },
        "SignupClaims": {
            "type": "object",
            "properties": {
                "customer": {
                    "type": "object",
                    "description": (
                        "the buyer as we keep them: exactly one of license_arn and customer_identifier; free_trial "
                        "as AWS Marketplace confirmed it; the nonce of the one tenant link this exchange allows"
                    ),
                    "properties": {
                        "product_code": {"type": "string"},
                        "customer_aws_account_id": {"type": "string"},
                        "license_arn": {"type": ["string", "null"]},
                        "customer_identifier": {"type": ["string", "null"]},
                        "agreement_id": {"type": ["string", "null"]},
                        "free_trial": {"type": "boolean"},
                        signing.TENANT_LINK_NONCE: {"type": "string"},
                    },
                    "required": [
                        "product_code",
                        "customer_aws_account_id",
                        "license_arn",
                        "customer_identifier",
                        "agreement_id",
                        "free_trial",
                        signing.TENANT_LINK_NONCE,
                    ],
                }
            },
            "required": ["customer"],
        },
        "ExchangeRefused": {
            "type": "object",
            "properties": {"message": {"type": "string"}, "field": {"type": "string"}},
            "required": ["message", "field"],
        },
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
                "event counts once per customer and `event_id` for as long as Marketplace can bill it, whatever "
                "`timestamp` (required: ISO 8601 with a time zone) a resend carries: sent again as it was, it is a "
                "duplicate; sent again with another dimension, quantity, hour or allocations, it is refused (409)."
            ),
            "security": [{SIGV4: []}],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("UsageBatchIn")}}},
            "responses": {
                "200": _json_answer(
                    "stored: each event accepted (new) or a duplicate (stored before)", "UsageAccepted"
                ),
                "400": _json_answer(
                    "the body is not a JSON object, or not valid JSON or base64; or an event has no `timestamp`",
                    "UsageRefused",
                ),
                "403": _json_answer("API Gateway: not signed (SigV4) by a principal allowed to invoke it", "Message"),
                "413": _json_answer(f"the body is larger than {usage_handler.MAX_BODY_BYTES} bytes", "UsageRefused"),
                "409": _json_answer(
                    "an event id was stored before with another dimension, quantity, hour or allocations (each named;"
                    " the version stored counts): nothing of the batch was stored",
                    "UsageRefused",
                ),
                "415": _json_answer(f"the content type is not {JSON}", "UsageRefused"),
                "422": _json_answer("an event is invalid (each bad field named): nothing was stored", "UsageRefused"),
                "429": _json_answer(f"API Gateway's throttle: {retry}, after a pause", "Message"),
                "500": _json_answer(
                    "API Gateway could not invoke the function (Lambda's throttling is answered 500), or the usage "
                    f"store refused the batch: {retry}, after a pause (if the store refused it, the seller is alerted)",
                    "Message",
                ),
                "502": _json_answer(f"API Gateway could not run the function: {retry}", "Message"),
                "503": _json_answer(
                    f"storage is busy, or an event's first send may still be being written: {retry}, after the "
                    "`Retry-After` header's seconds where it has one",
                    "Message",
                ),
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


def _signup_exchange() -> dict[str, Any]:
    refused = {
        str(status): _json_answer(str(kind.__doc__).strip().splitlines()[0], "ExchangeRefused")
        for kind, (status, _) in registration_handler.EXCHANGE_ERRORS.items()
    }
    return {
        "operationId": "postRegisterSignup",
        "summary": "The seller's back end exchanges the sign-up value its page was sent for the buyer's claims, once",
        "description": (
            f"Server to server, signed with the registration secret. At most {registration_handler.MAX_BODY_BYTES} "
            "bytes. Every answer is JSON; a refusal names the field."
        ),
        "security": [],
        "requestBody": {"required": True, "content": {FORM: {"schema": _ref("SignupExchangeForm")}}},
        "responses": {
            "200": _json_answer("the buyer's claims; the value is spent", "SignupClaims"),
            **refused,
            "413": _json_answer("the form is too large", "ExchangeRefused"),
            "415": _json_answer("not a form post", "ExchangeRefused"),
            "500": _json_answer("the exchange failed on our side: sending it again will not help", "Message"),
            "503": _json_answer("storage is busy: send the same request again", "Message"),
        },
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
        "/register/signup": _signup_exchange(),
        "/register/tenant": _form_post(
            "postRegisterTenant",
            "The seller links the buyer's account (its tenant id) to the subscription",
            "TenantLinkForm",
            {"200": _page("linked (or by this very link already: a retry); another link of one exchange is 409")},
        ),
    }
    # every route the registration handler serves (its route table; a GET of each is explained): one not described
    # above is a form post described by its function's docstring, so a new route is in the document as soon as
    # `make docs` runs
    paths: dict[str, Any] = {}
    for path, function in sorted(registration_handler.ROUTES.items()):
        name = "".join(part.capitalize() for part in path.split("/"))
        summary = (function.__doc__ or path).strip().splitlines()[0]
        post = described.get(path) or _form_post(
            f"post{name}", summary, "Form", {"200": _page("the page saying it is done")}
        )
        paths[path] = {"get": _explained(f"get{name}"), "post": post}
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
