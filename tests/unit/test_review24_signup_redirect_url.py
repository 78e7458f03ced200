"""Review 24: a product's ``signup_redirect_url`` is checked only as 0 to 2,048 characters of text, yet registration
sends every buyer's browser there (303) carrying the sign-up value, a bearer value worth the buyer's claims and a
tenant link for 15 minutes. cdk.json is validated at synth for everything else; here it accepts:

- ``http://`` (the value crosses the network in clear; whoever sees or stops that request exchanges it first, through
  the seller's real page, and links the victim's subscription to their own tenant);
- a relative or scheme-relative URL (the browser resolves it under our API's own domain, or another host);
- ``javascript:`` and other schemes;
- CR/LF (the Location header of our answer is split)."""

from __future__ import annotations

import pytest

from functions.settings import Dimension, InvalidField, Product

BAD_URLS = {
    "plain http": "http://seller.example/signup",
    "relative": "signup",
    "scheme-relative": "//seller.example/signup",
    "javascript": "javascript:alert(document.domain)",
    "CRLF": "https://seller.example/signup\r\nSet-Cookie: session=fixed",
}


@pytest.mark.parametrize("kind", sorted(BAD_URLS))
def test_a_signup_redirect_url_that_is_not_an_absolute_https_url_is_refused(kind: str) -> None:
    with pytest.raises(InvalidField, match="signup_redirect_url"):
        Product(
            code="prod1",
            name="Acme",
            dimensions=(Dimension(name="api_calls"),),
            signup_redirect_url=BAD_URLS[kind],
        )


@pytest.mark.parametrize(
    "url",
    ["https://seller.example/signup?source=marketplace", "http://127.0.0.1:8080/signup", "http://localhost/signup", ""],
)
def test_an_https_url_or_a_loopback_http_one_is_accepted(url: str) -> None:
    """(fix) make run's own sign-up page is plain http on loopback; "" is no sign-up page."""
    product = Product(code="prod1", name="Acme", dimensions=(Dimension(name="api_calls"),), signup_redirect_url=url)
    assert product.signup_redirect_url == url


@pytest.mark.parametrize(
    "url",
    ["https://user:pw@seller.example/signup", "ftp://seller.example/x", "https:///nohost", "https://a b.example/"],
)
def test_credentials_other_schemes_no_host_and_spaces_are_refused_naming_the_field(url: str) -> None:
    with pytest.raises(InvalidField, match="signup_redirect_url"):
        Product(code="prod1", name="Acme", dimensions=(Dimension(name="api_calls"),), signup_redirect_url=url)
