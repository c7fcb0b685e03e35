"""Review API: GET /reviews/{id}?t=… shows the case; POST /reviews/{id}/decision records a decision.

GET and HEAD never change anything (mail scanners open links); only a POSTed form decides.
"""
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from countersign import desk
from countersign.pages import SECURITY_HEADERS
from countersign.runtime import build_deps

logger, tracer, metrics = Logger(), Tracer(), Metrics()
app = APIGatewayRestResolver()
DEPS = build_deps("reviews", "links")
MAX_FORM_BYTES = 128 * 1024


def _reply(reply: desk.Reply, body: bool = True) -> Response:
    return Response(status_code=reply.status, headers=SECURITY_HEADERS, body=reply.html if body else "")


@app.route("/reviews/<review_id>", method=["GET", "HEAD"])
def show(review_id: str):
    reply = desk.show(review_id, app.current_event.get_query_string_value("t"), DEPS, f"{review_id}/decision")
    return _reply(reply, body=app.current_event.http_method == "GET")


@app.post("/reviews/<review_id>/decision")
def decide(review_id: str):
    raw = app.current_event.decoded_body or ""
    form = dict(parse_qsl(raw[:MAX_FORM_BYTES], keep_blank_values=True))
    ctx = app.current_event.request_context
    request = desk.Request(ctx.request_id, ctx.identity.source_ip or "", ctx.identity.user_agent or "")
    reply = desk.decide(review_id, form, DEPS, request)
    logger.info("decision request", extra={"status": reply.status})
    metrics.add_metric(name=f"DecisionRequests_{reply.status}", unit=MetricUnit.Count, value=1)
    return _reply(reply)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    logger.set_correlation_id((event.get("pathParameters") or {}).get("review_id"))
    return app.resolve(event, context)
