"""API Gateway in front of the sandbox: routes come from the template's own
``AWS::ApiGateway::Method`` resources. A request to a Lambda proxy method becomes a REST API proxy
event for that Lambda, invoked through moto like API Gateway would. A request to the submit path
(an ``AWS`` service integration, IAM-authorised) has the template's own VTL request template
rendered (airspeed, the Velocity engine), with the caller's identity taken from the access key in
its SigV4 ``Authorization`` header, and the rendered ``StartExecution`` request sent to moto."""
from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

from countersign.sandbox.deploy import Deployment


@dataclass(frozen=True)
class Route:
    method: str
    resource: str                 # e.g. /reviews/{review_id}
    function: str | None          # physical function name (a Lambda proxy method)
    required_query: tuple[str, ...]
    start_template: str | None = None   # the VTL request template of a StartExecution integration
    iam: bool = False                   # AuthorizationType AWS_IAM: a SigV4-signed request is required

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.resource)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: str


def routes(deployment: Deployment) -> list[Route]:
    res = deployment.template["Resources"]

    def path_of(ref: Any) -> str:
        if isinstance(ref, dict) and "Ref" in ref:
            node = res[ref["Ref"]]["Properties"]
            return path_of(node["ParentId"]).rstrip("/") + "/" + node["PathPart"]
        return "/"  # the API's root resource

    found = []
    for props in (r["Properties"] for r in res.values() if r["Type"] == "AWS::ApiGateway::Method"):
        required = tuple(k.rsplit(".", 1)[1] for k, v in props.get("RequestParameters", {}).items()
                         if v and k.startswith("method.request.querystring."))
        iam = props.get("AuthorizationType") == "AWS_IAM"
        uri = json.dumps(props["Integration"]["Uri"])
        if props["Integration"]["Type"] == "AWS" and ":states:action/StartExecution" in uri:
            template = _resolve(props["Integration"]["RequestTemplates"]["application/json"], deployment)
            found.append(Route(props["HttpMethod"], path_of(props["ResourceId"]), None, required, template, iam))
            continue
        function = next(deployment.resources[logical] for logical, r in res.items()
                        if r["Type"] == "AWS::Lambda::Function" and f'"{logical}"' in uri)
        found.append(Route(props["HttpMethod"], path_of(props["ResourceId"]), function, required, iam=iam))
    return found


def _resolve(value: Any, deployment: Deployment) -> str:
    """A request template's Fn::Join of text and Refs, with the deployed physical ids."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return deployment.resources[value["Ref"]]
    separator, parts = value["Fn::Join"]
    return separator.join(_resolve(part, deployment) for part in parts)


def request(table: list[Route], method: str, path: str, query: dict[str, str] | None = None,
            body: str = "", headers: dict[str, str] | None = None, source_ip: str = "127.0.0.1") -> HttpResponse:
    query, headers = query or {}, headers or {}
    for route in table:
        params = route.match(method, path)
        if params is None:
            continue
        missing = [q for q in route.required_query if q not in query]
        if missing:
            return HttpResponse(400, {"Content-Type": "application/json"},
                                json.dumps({"message": f"Missing required request parameters: [{', '.join(missing)}]"}))
        if route.start_template is not None:
            return start_execution(route, body, headers, source_ip)
        event = proxy_event(route, method, path, params, query, body, headers, source_ip)
        got = boto3.client("lambda").invoke(FunctionName=route.function, Payload=json.dumps(event))
        payload = json.loads(got["Payload"].read() or b"{}")
        if got.get("FunctionError") or "statusCode" not in payload:
            return HttpResponse(502, {"Content-Type": "application/json"}, json.dumps({"message": "Internal server error"}))
        text = payload.get("body") or ""
        if payload.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        merged = dict(payload.get("headers") or {})
        for name, values in (payload.get("multiValueHeaders") or {}).items():
            merged[name] = ", ".join(values)   # API Gateway merges both forms
        return HttpResponse(int(payload["statusCode"]), merged, text)
    # what API Gateway answers for a path or method it does not have
    return HttpResponse(403, {"Content-Type": "application/json"}, json.dumps({"message": "Missing Authentication Token"}))


def proxy_event(route: Route, method: str, path: str, params: dict[str, str], query: dict[str, str],
                body: str, headers: dict[str, str], source_ip: str) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource, "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": params or None, "stageVariables": None,
        "requestContext": {
            "resourcePath": route.resource, "httpMethod": method, "path": f"/review{path}",
            "stage": "review", "requestId": request_id, "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
            "protocol": "HTTP/1.1", "accountId": "123456789012", "apiId": "sandbox",
        },
        "body": body or None, "isBase64Encoded": False,
    }


def _json(status: int, document: dict[str, Any]) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(document))


def start_execution(route: Route, body: str, headers: dict[str, str], source_ip: str) -> HttpResponse:
    """What API Gateway does for the submit path: authenticate, render the request template with
    the caller's identity, call StartExecution with the integration's role, relay the answer."""
    import airspeed
    import botocore.exceptions

    header = {k.lower(): v for k, v in headers.items()}
    signed = re.match(r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/", header.get("authorization", ""))
    if route.iam and not signed:
        return _json(403, {"message": "Missing Authentication Token"})
    if not header.get("content-type", "").startswith("application/json"):
        return _json(415, {"message": "Unsupported Media Type"})     # passthrough behaviour NEVER
    caller = boto3.client("sts", aws_access_key_id=signed[1], aws_secret_access_key="verified-by-api-gateway"
                          ).get_caller_identity()["Arn"]            # moto: the IAM user owning the key
    context = {"input": _Input(body, header), "util": _Util(),
               "context": {"identity": {"userArn": caller, "sourceIp": source_ip}, "requestId": str(uuid.uuid4())}}
    try:
        call = json.loads(airspeed.Template(route.start_template).merge(context))
        started = boto3.client("stepfunctions").start_execution(**call)
    except json.JSONDecodeError:
        return _json(400, {"__type": "SerializationException", "message": "the rendered request is not JSON"})
    except botocore.exceptions.ClientError as exc:
        error = exc.response["Error"]
        return _json(400, {"__type": error.get("Code"), "message": error.get("Message")})
    return _json(200, {"executionArn": started["executionArn"], "startDate": started["startDate"].timestamp()})


class _Input:
    """``$input`` of a VTL request template (the parts the submit path uses)."""

    def __init__(self, body: str, headers: dict[str, str]) -> None:
        self.body, self._headers = body, headers

    def params(self, name: str) -> str:
        return self._headers.get(name.lower(), "")


class _Util:
    """``$util``: base64Encode and escapeJavaScript as API Gateway defines them."""

    def base64Encode(self, text: str) -> str:  # noqa: N802 (VTL's name)
        return base64.b64encode(text.encode()).decode()

    def escapeJavaScript(self, text: str) -> str:  # noqa: N802
        return json.dumps(text)[1:-1].replace("'", "\\'")
