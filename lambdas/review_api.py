"""Review API: GET /reviews/{id}?t=… shows the case; POST /reviews/{id}/decision records a decision;
GET /inbox?t=… lists the reviewer's pending reviews.

GET and HEAD never change anything (mail scanners open links); only a form POSTed from the review
page itself decides (``desk.unfit`` says what else is refused before the token is read).
"""
import base64
from collections import Counter
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.review import desk, inbox
from countersign.review.pages import SECURITY_HEADERS
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "links", "registry")


class Call:
    """One API Gateway REST proxy event, read at the edge. API Gateway has already routed it: its
    ``resource`` is the template path (``/reviews/{review_id}``) the request matched."""

    def __init__(self, event: dict) -> None:
        self.event, self.method, self.resource = event, event.get("httpMethod") or "", event.get("resource") or ""
        self.headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        self.query = event.get("queryStringParameters") or {}
        self.path = event.get("pathParameters") or {}
        self.context = event.get("requestContext") or {}

    def body(self) -> str:
        raw = self.event.get("body") or ""
        if self.event.get("isBase64Encoded"):
            try:
                return base64.b64decode(raw, validate=True).decode("utf-8", "replace")
            except ValueError:          # binascii.Error is one
                return ""
        return raw

    def request(self, **post) -> desk.Request:
        identity = self.context.get("identity") or {}
        return desk.Request(self.context.get("requestId") or "", identity.get("sourceIp") or "",
                            identity.get("userAgent") or "", **post)


def _reply(reply: desk.Reply, body: bool = True) -> dict:
    if reply.status >= 400:     # refusals by reason (the status), for the dashboard and the refused-links alarm
        metrics.add_metric(name=f"RequestsRefused_{reply.status}", unit=MetricUnit.Count, value=1)
    return {"statusCode": reply.status, "headers": dict(SECURITY_HEADERS), "body": reply.html if body else "",
            "isBase64Encoded": False}


def show(call: Call) -> dict:
    review_id = call.path.get("review_id", "")
    reply = desk.show(review_id, call.query.get("t"), DEPS, f"{review_id}/decision", call.request())
    return _reply(reply, body=call.method == "GET")


def show_inbox(call: Call) -> dict:
    reply = inbox.show(call.query.get("t"), call.query.get("after"), DEPS, call.request())
    return _reply(reply, body=call.method == "GET")


def decide(call: Call) -> dict:
    raw = call.body()
    size = len(raw.encode())
    pairs = parse_qsl(raw, keep_blank_values=True) if size <= desk.MAX_FORM_BYTES else []
    header = call.headers.get
    request = call.request(host=header("host") or call.context.get("domainName") or "", origin=header("origin"),
                           fetch_site=(header("sec-fetch-site") or "").lower(), content_type=header("content-type") or "",
                           body_bytes=size,
                           repeated=tuple(sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)))
    reply = desk.decide(call.path.get("review_id", ""), dict(pairs), DEPS, request)
    logger.info("decision request", extra={"status": reply.status})
    metrics.add_metric(name=f"DecisionRequests_{reply.status}", unit=MetricUnit.Count, value=1)
    return _reply(reply)


ROUTES = {("GET", "/reviews/{review_id}"): show, ("HEAD", "/reviews/{review_id}"): show,
          ("GET", "/inbox"): show_inbox, ("HEAD", "/inbox"): show_inbox,
          ("POST", "/reviews/{review_id}/decision"): decide}


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    call = Call(event)
    logger.set_correlation_id(call.path.get("review_id"))
    route = ROUTES.get((call.method, call.resource))
    if route is None:           # API Gateway routes only the methods above here
        return {"statusCode": 404, "headers": {"Content-Type": "text/plain"}, "body": "not found",
                "isBase64Encoded": False}
    return route(call)
