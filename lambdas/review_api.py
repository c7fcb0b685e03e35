"""Review API: GET /reviews/{id}?t=… shows the case; POST /reviews/{id}/decision records a decision;
GET /inbox?t=… lists the reviewer's pending reviews.

GET and HEAD never change anything (mail scanners open links); only a form POSTed from the review
page itself decides (``desk.unfit`` says what else is refused before the token is read).
"""
from collections import Counter
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from countersign.review import desk, inbox
from countersign.review.pages import SECURITY_HEADERS
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
app = APIGatewayRestResolver()
DEPS = build_deps("reviews", "links", "registry")


def _reply(reply: desk.Reply, body: bool = True) -> Response:
    if reply.status >= 400:     # refusals by reason (the status), for the dashboard and the refused-links alarm
        metrics.add_metric(name=f"RequestsRefused_{reply.status}", unit=MetricUnit.Count, value=1)
    return Response(status_code=reply.status, headers=SECURITY_HEADERS, body=reply.html if body else "")


def _request(**post) -> desk.Request:
    ctx = app.current_event.request_context
    return desk.Request(ctx.request_id, ctx.identity.source_ip or "", ctx.identity.user_agent or "", **post)


def _header(name: str) -> str | None:
    return app.current_event.headers.get(name)      # Powertools' headers ignore case


@app.route("/reviews/<review_id>", method=["GET", "HEAD"])
def show(review_id: str):
    token = app.current_event.get_query_string_value("t")
    reply = desk.show(review_id, token, DEPS, f"{review_id}/decision", _request())
    return _reply(reply, body=app.current_event.http_method == "GET")


@app.route("/inbox", method=["GET", "HEAD"])
def show_inbox():
    event = app.current_event
    reply = inbox.show(event.get_query_string_value("t"), event.get_query_string_value("after"), DEPS, _request())
    return _reply(reply, body=event.http_method == "GET")


@app.post("/reviews/<review_id>/decision")
def decide(review_id: str):
    raw = app.current_event.decoded_body or ""
    size = len(raw.encode())
    pairs = parse_qsl(raw, keep_blank_values=True) if size <= desk.MAX_FORM_BYTES else []
    request = _request(host=_header("host") or app.current_event.request_context.domain_name or "",
                       origin=_header("origin"), fetch_site=(_header("sec-fetch-site") or "").lower(),
                       content_type=_header("content-type") or "", body_bytes=size,
                       repeated=tuple(sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)))
    reply = desk.decide(review_id, dict(pairs), DEPS, request)
    logger.info("decision request", extra={"status": reply.status})
    metrics.add_metric(name=f"DecisionRequests_{reply.status}", unit=MetricUnit.Count, value=1)
    return _reply(reply)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    logger.set_correlation_id((event.get("pathParameters") or {}).get("review_id"))
    return app.resolve(event, context)
