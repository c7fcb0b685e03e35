"""What the desk refuses before it reads a decision's token (``desk.unfit``); the threat corpus
(``tests/lambdas/test_threats.py``) sends each through the deployed API."""
from __future__ import annotations

from countersign.review.desk import FORM_TYPE, Request, unfit


def post(**sent) -> Request:
    return Request("r-1", host=sent.pop("host", "abc.execute-api.eu-west-1.amazonaws.com"), content_type=FORM_TYPE,
                   **sent)


def test_a_proxy_that_rewrites_host_is_allowed_for_the_configured_review_host_only():
    behind = post(origin="https://review.example.com", fetch_site="same-origin")
    assert unfit(behind, "https://review.example.com") is None
    assert unfit(behind)[0] == 403                             # unconfigured: another host is another site
    assert unfit(post(origin="https://evil.example"), "https://review.example.com")[0] == 403


def test_the_page_itself_and_clients_that_are_no_browser_pass():
    assert unfit(post(origin="https://abc.execute-api.eu-west-1.amazonaws.com", fetch_site="same-origin")) is None
    assert unfit(post()) is None
    assert unfit(post(origin="null", fetch_site="same-origin")) is None     # the page's own form, no-referrer
    assert unfit(post(origin="null"))[0] == 403 and unfit(post(fetch_site="same-site"))[0] == 403
