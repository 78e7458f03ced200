"""HTML pages the registration function renders. Every interpolated value goes through ``escape``."""

from __future__ import annotations

import base64
import hashlib
from html import escape

from functions.settings import ContactField

_STYLE = (
    "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f5f6f8;color:#16191f;margin:0}"
    "main{max-width:34rem;margin:3rem auto;background:#fff;border:1px solid #d5dbdb;border-radius:8px;"
    "padding:2rem 2.25rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    "h1{font-size:1.5rem;margin:0 0 .75rem}p{line-height:1.5}"
    "label{display:block;font-weight:600;margin:1rem 0 .3rem}"
    "input{width:100%;box-sizing:border-box;padding:.55rem .65rem;border:1px solid #8d9696;border-radius:4px;"
    "font:inherit}input[aria-invalid=true]{border-color:#d13212;background:#fff7f7}"
    ".error{color:#d13212;margin:.3rem 0 0;font-size:.9rem}"
    ".notice{background:#f1faff;border-left:4px solid #0073bb;padding:.6rem .9rem}"
    "button{margin-top:1.5rem;background:#ff9900;border:1px solid #ec7211;border-radius:4px;padding:.65rem 1.4rem;"
    "font:inherit;font-weight:600;cursor:pointer}dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}"
    "dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

# Sent with every page: no scripts at all, only our own inline style (by hash), forms post only to us.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # nothing to other origins; our form sends its Origin
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>\n"
    )


def onboarding(
    *,
    product_name: str,
    completion_value: str,
    action: str,
    fields: tuple[ContactField, ...],
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    free_trial: bool = False,
) -> str:
    values = values or {}
    errors = errors or {}
    intro = (
        f"<h1>Welcome to {escape(product_name)}</h1>"
        + ('<p class="notice">Your free trial has started.</p>' if free_trial else "")
        + "<p>Your AWS Marketplace subscription is registered. Tell us who to contact to finish setting up "
        "your account.</p>"
    )
    if errors:
        intro += '<p class="error" role="alert">Please correct the fields marked below.</p>'
    inputs = "".join(_input(spec, values.get(spec.name, ""), errors.get(spec.name)) for spec in fields)
    form = (
        f'<form id="onboarding" method="post" action="{escape(action)}">'
        f'<input type="hidden" name="registration" value="{escape(completion_value)}">'
        f'{inputs}<button type="submit" id="complete-registration">Complete registration</button></form>'
    )
    return _page(f"Set up your {product_name} account", intro + form)


def _input(spec: ContactField, value: str, error: str | None) -> str:
    name = spec.name
    required = " required" if spec.required else ""
    invalid = ' aria-invalid="true"' if error else ""
    message = f'<p class="error" id="{name}-error">{escape(error)}</p>' if error else ""
    label = spec.label if spec.required else f"{spec.label} (optional)"
    return (
        f'<label for="{name}">{escape(label)}</label>'
        f'<input id="{name}" name="{name}" type="{spec.kind}" value="{escape(value)}" maxlength="{spec.max_length}"'
        f"{required}{invalid}>{message}"
    )


def confirmation(*, product_name: str, contact: dict[str, str], fields: tuple[ContactField, ...]) -> str:
    rows = "".join(
        f"<dt>{escape(spec.label)}</dt><dd>{escape(contact[spec.name])}</dd>"
        for spec in fields
        if contact.get(spec.name)
    )
    body = (
        f'<h1 id="confirmation">You are all set</h1><p>Thank you. Your {escape(product_name)} account is being '
        "set up; we will contact you at the details below.</p>"
        f"<dl>{rows}</dl>"
    )
    return _page("Registration complete", body)


def message(title: str, *paragraphs: str) -> str:
    """An error or information page: a heading and plain-text paragraphs (escaped here)."""
    return _page(title, f"<h1>{escape(title)}</h1>" + "".join(f"<p>{escape(p)}</p>" for p in paragraphs))
