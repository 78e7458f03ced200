"""The buyer pages: product list, subscribe, and the "Set up your account" form that posts the token."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Forms(HTMLParser):
    """Collect forms with their inputs and buttons."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": attributes, "inputs": {}, "buttons": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"][attributes.get("name")] = attributes
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"].append(attributes)


def _get(url):
    with urllib.request.urlopen(url) as response:
        return response.read().decode()


def _post_form(url, fields):
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request) as response:
        return response.read().decode()


def _parse(text):
    parser = _Forms()
    parser.feed(text)
    return parser.forms


class _Fulfillment(BaseHTTPRequestHandler):
    posts: list[tuple[str, str]] = []

    def do_POST(self):
        type(self).posts.append(
            (self.headers["Content-Type"], self.rfile.read(int(self.headers["Content-Length"])).decode())
        )
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_subscribe_and_post_the_token_to_the_fulfillment_url(marketplace):
    seller = ThreadingHTTPServer(("127.0.0.1", 0), _Fulfillment)
    threading.Thread(target=seller.serve_forever, daemon=True).start()
    fulfillment_url = f"http://127.0.0.1:{seller.server_address[1]}/register"
    try:
        marketplace.product("page-product", ["api_calls"], name="Widgets <b>Pro</b>", fulfillment_url=fulfillment_url)
        listing = _get(marketplace.url + "/")
        assert "Widgets &lt;b&gt;Pro&lt;/b&gt;" in listing
        (form,) = _parse(listing)
        assert form["attrs"]["method"] == "post"
        assert form["inputs"]["product_code"]["value"] == "page-product"
        assert form["inputs"]["account_id"]["value"] == "111122223333"
        assert "free_trial" in form["inputs"]

        fields = {"product_code": "page-product", "account_id": "444455556666", "free_trial": "true"}
        page = _post_form(urllib.parse.urljoin(marketplace.url, form["attrs"]["action"]), fields)
        (setup,) = _parse(page)
        assert setup["attrs"]["action"] == fulfillment_url
        assert setup["attrs"]["method"] == "post"
        assert setup["attrs"]["enctype"] == "application/x-www-form-urlencoded"
        assert [b["id"] for b in setup["buttons"]] == ["setup-account"]
        assert setup["inputs"]["x-amzn-marketplace-offer-type"]["value"] == "free-trial"
        token = setup["inputs"]["x-amzn-marketplace-token"]["value"]

        # What the browser does when the buyer clicks "Set up your account":
        _post_form(fulfillment_url, {name: attrs["value"] for name, attrs in setup["inputs"].items()})
        content_type, body = _Fulfillment.posts[-1]
        assert content_type == "application/x-www-form-urlencoded"
        posted = urllib.parse.parse_qs(body)
        assert posted["x-amzn-marketplace-token"] == [token]

        resolved = marketplace.metering().resolve_customer(RegistrationToken=posted["x-amzn-marketplace-token"][0])
        assert resolved["CustomerAWSAccountId"] == "444455556666"
        (sub,) = marketplace.admin.list_subscriptions()
        assert sub["free_trial"] is True
        assert sub["status"] == "active"
    finally:
        seller.shutdown()
        seller.server_close()


def test_paid_subscription_has_no_offer_type(marketplace):
    marketplace.product("page-product", ["api_calls"])
    fields = {"product_code": "page-product", "account_id": "111122223333"}
    page = _post_form(marketplace.url + "/buyer/subscribe", fields)
    (setup,) = _parse(page)
    assert "x-amzn-marketplace-offer-type" not in setup["inputs"]


def test_bad_subscribe_renders_an_error_page(marketplace):
    request = urllib.request.Request(
        marketplace.url + "/buyer/subscribe",
        data=b"product_code=nope&account_id=111122223333",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 404
    assert "unknown product" in caught.value.read().decode()
