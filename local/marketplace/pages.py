"""The buyer-facing pages: a product list with Subscribe buttons, and the "Set up your account" page.

The second page does what AWS Marketplace does after a SaaS purchase: the buyer's browser POSTs an
``application/x-www-form-urlencoded`` form with ``x-amzn-marketplace-token`` to the seller's fulfillment
URL. Everything interpolated is escaped; these pages render seller-controlled names.
"""

from __future__ import annotations

from html import escape
from typing import Any

DEFAULT_BUYER_ACCOUNT = "111122223333"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; color: #16191f; }
.product { border: 1px solid #d5dbdb; border-radius: 6px; padding: 1rem 1.25rem; margin: 1rem 0; }
button { background: #ff9900; border: 1px solid #ec7211; border-radius: 4px; padding: .5rem 1rem; cursor: pointer; }
code { background: #f2f3f3; padding: 0 .25rem; }
label { margin-right: 1rem; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><header><strong>AWS Marketplace (local emulator)</strong></header>{body}</body></html>\n"
    )


def product_list(products: list[dict[str, Any]], default_account: str = DEFAULT_BUYER_ACCOUNT) -> str:
    if not products:
        items = "<p>No products yet. Create one with <code>POST /admin/products</code> or run with --demo.</p>"
    else:
        items = "".join(_product_card(p, default_account) for p in products)
    return _page("AWS Marketplace emulator: products", f"<h1>Products</h1>{items}")


def _product_card(product: dict[str, Any], default_account: str) -> str:
    code = escape(str(product["code"]))
    dims = ", ".join(escape(str(d)) for d in product["dimensions"])
    return (
        f'<section class="product" data-product-code="{code}">'
        f"<h2>{escape(str(product['name']))}</h2>"
        f"<p>Product code <code>{code}</code> · pricing {escape(str(product['pricing']))} · dimensions {dims}</p>"
        '<form method="post" action="/buyer/subscribe">'
        f'<input type="hidden" name="product_code" value="{code}">'
        f'<label>Buyer AWS account id <input name="account_id" value="{escape(default_account)}" '
        'pattern="[0-9]{12}" required></label>'
        '<label><input type="checkbox" name="free_trial" value="true"> Free trial</label>'
        f'<button type="submit" id="subscribe-{code}">Subscribe</button>'
        "</form></section>"
    )


def setup_account(subscription: dict[str, Any], product: dict[str, Any]) -> str:
    token = escape(subscription["registration_token"])
    fields = [f'<input type="hidden" name="x-amzn-marketplace-token" value="{token}">']
    if subscription.get("free_trial"):
        fields.append('<input type="hidden" name="x-amzn-marketplace-offer-type" value="free-trial">')
    body = (
        f"<h1>Thank you for subscribing to {escape(str(product['name']))}</h1>"
        f"<p>Agreement <code>{escape(subscription['agreement_id'])}</code> for account "
        f"<code>{escape(subscription['account_id'])}</code> is {escape(subscription['status'])}.</p>"
        "<p>Your subscription is ready. Set up your account with the seller to start using the product.</p>"
        f'<form id="setup-account-form" method="post" action="{escape(str(product["fulfillment_url"]))}" '
        'enctype="application/x-www-form-urlencoded">'
        + "".join(fields)
        + '<button type="submit" id="setup-account">Set up your account</button></form>'
        '<p><a href="/">Back to products</a></p>'
    )
    return _page("Set up your account", body)


def error_page(message: str) -> str:
    return _page("Error", f'<h1>Something went wrong</h1><p>{escape(message)}</p><p><a href="/">Back</a></p>')
