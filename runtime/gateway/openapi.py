"""The OpenAPI document the gateway publishes (`GET /openapi.json`): every route of every endpoint
this environment exposes, generated from the endpoint table and its request and answer schemas, so
a client (or a fuzzer) sees exactly what the gateway checks. `model` lists the models of the
endpoint's capability in this environment; content-part types are the enum the gateway enforces
when the prompt policy does (runtime/endpoints/_schema.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runtime.endpoints import ENDPOINTS, Endpoint, Route
from runtime.gateway.asgi import Request, Responder, send_json
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.gateway.app import GatewayApp

__all__ = ["document", "openapi"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": "string"},
                "param": {"type": ["string", "null"]},
            },
        }
    },
}
_ERRORS = {
    "400": "the request does not match its schema (`param` names the field), or is not strict JSON",
    "401": "no API key, or an unknown one",
    "403": "refused by the prompt or output policy",
    "404": "unknown model, or an endpoint this environment does not expose",
    "413": "the body (or the texts) exceed the gateway's limits",
    "429": "rate limit, or no free slot on the model's backend",
    "502": "the model provider failed or sent an answer the gateway does not pass on",
    "503": "the policy engine or the model provider is unavailable; retry later",
    "504": "the model provider did not answer in time",
}
_MEDIA = {
    "json": "application/json",
    "sse": "text/event-stream",
    "jsonl": "application/jsonl",
    "text": "text/plain",
    "binary": "application/octet-stream",
}


def document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the endpoints `settings` exposes."""
    strict = settings.policies.get("prompt", {}).get("mode", "enforce") not in ("off", "monitor")
    paths: dict[str, dict[str, Any]] = {}
    for name in settings.endpoints:
        endpoint = ENDPOINTS.get(name)
        if endpoint is None:
            continue
        models = sorted(m.name for m in settings.models.values() if m.capability == endpoint.capability)
        for n, route in enumerate(endpoint.routes):
            path = route.path.replace("*}", "}")
            paths.setdefault(path, {})[route.method.lower()] = _operation(endpoint, route, n, models, strict)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"LLM policy gateway ({settings.environment})",
            "version": "1",
            "description": "Every request passes the prompt policy and every answer the output policy. "
            "Fields the schemas do not name are allowed and passed on (LiteLLM takes provider-specific "
            "parameters); their texts are read by the policies like any other.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"api_key": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "api_key": {"type": "apiKey", "in": "header", "name": "api-key"},
            },
            "schemas": {"Error": _ERROR},
        },
        "paths": dict(sorted(paths.items())),
    }


def _operation(endpoint: Endpoint, route: Route, n: int, models: list[str], strict: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{endpoint.name}_{route.method.lower()}_{n}",
        "summary": endpoint.title,
        "tags": [endpoint.name],
    }
    parameters = [
        {"name": name.rstrip("*"), "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in _path_parameters(route.path)
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.kind == "generate" and endpoint.body != "none" and endpoint.request_schema is not None:
        schema = _request_schema(endpoint, models, strict)
        media = "multipart/form-data" if endpoint.body == "multipart" else "application/json"
        operation["requestBody"] = {"required": True, "content": {media: {"schema": schema}}}
    answer: dict[str, Any] = {}
    for kind in endpoint.answer_kinds if route.kind == "generate" else ("json",):
        if kind in _MEDIA:
            shown = endpoint.answer_schema if kind == "json" and endpoint.answer_schema is not None else {}
            answer[_MEDIA[kind]] = {"schema": _clean(shown)}
    responses: dict[str, Any] = {"200": {"description": "the answer, as the output policy let it through"}}
    if answer:
        responses["200"]["content"] = answer
    for status, description in _ERRORS.items():
        responses[status] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation["responses"] = responses
    return operation


def _path_parameters(template: str) -> list[str]:
    return [part[1:-1] for part in template.split("/") if part.startswith("{") and part.endswith("}")]


def _request_schema(endpoint: Endpoint, models: list[str], strict: bool) -> dict[str, Any]:
    schema = _clean(endpoint.request_schema or {}, strict=strict)
    field = endpoint.model_field
    properties = schema.get("properties", {})
    if field and models and field in properties:
        properties[field] = {"type": "string", "enum": models}
    return schema


def _clean(schema: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """A copy without the gateway's own keywords (x-open-enum), its enum dropped where the gateway
    does not enforce it."""
    out: dict[str, Any] = copy.deepcopy(dict(schema))
    stack: list[Any] = [out]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.pop("x-open-enum", False) and not strict:
                node.pop("enum", None)
            stack += node.values()
        elif isinstance(node, list):
            stack += node
    return out


async def openapi(request: Request, responder: Responder) -> None:
    """GET /openapi.json: needs a client key like every endpoint but the health checks."""
    app: GatewayApp = request.scope["app"]
    app.ctx.auth.authenticate(request.headers)
    body = json.dumps(document(app.settings), sort_keys=True).encode()
    await send_json(responder, 200, body, [])
