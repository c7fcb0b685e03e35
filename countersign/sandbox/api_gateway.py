"""API Gateway in front of the sandbox: routes come from the template's own
``AWS::ApiGateway::Method`` resources, and each request becomes a REST API proxy event for the
Lambda the method integrates with, invoked through moto like API Gateway would."""
from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

from .deploy import Deployment


@dataclass(frozen=True)
class Route:
    method: str
    resource: str                 # e.g. /reviews/{review_id}
    function: str                 # physical function name
    required_query: tuple[str, ...]

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
        uri = json.dumps(props["Integration"]["Uri"])
        function = next(deployment.resources[logical] for logical, r in res.items()
                        if r["Type"] == "AWS::Lambda::Function" and f'"{logical}"' in uri)
        required = tuple(k.rsplit(".", 1)[1] for k, v in props.get("RequestParameters", {}).items()
                         if v and k.startswith("method.request.querystring."))
        found.append(Route(props["HttpMethod"], path_of(props["ResourceId"]), function, required))
    return found


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
