"""GET /openapi.json: the exposed endpoints, their routes and the schemas the gateway checks, behind
a client key like every endpoint but the health checks."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from test_gateway_endpoints import CASES, EVERYTHING

from runtime.endpoints import ENDPOINTS


async def test_the_document_needs_a_client_key(gateway: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    assert (await client.get("/openapi.json", headers={"authorization": ""})).status_code == 401
    assert (await client.get("/openapi.json", headers={"authorization": "Bearer nope"})).status_code == 401
    r = await client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["openapi"] == "3.1.0"


async def test_it_lists_every_route_of_the_exposed_endpoints_and_no_other(gateway: Any) -> None:
    _, client = await gateway(**{**EVERYTHING, "endpoints": ["chat", "embeddings", "files"]})
    doc = (await client.get("/openapi.json")).json()
    routes = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    expected = {
        (r.method, r.path) for name in ("chat", "embeddings", "files") for r in ENDPOINTS[name].routes
    }
    assert routes == expected
    assert "/v1/messages" not in doc["paths"]


async def test_model_names_the_models_of_the_endpoints_capability(gateway: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    doc = (await client.get("/openapi.json")).json()
    chat = doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert chat["properties"]["model"] == {"type": "string", "enum": ["chat-default"]}
    embeddings = doc["paths"]["/v1/embeddings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert embeddings["properties"]["model"]["enum"] == ["embed-default"]


@pytest.mark.parametrize(("mode", "enforced"), [("enforce", True), ("monitor", False)])
async def test_content_part_types_are_an_enum_where_the_gateway_enforces_them(
    gateway: Any, mode: str, enforced: bool
) -> None:
    policies = {"prompt": {"version": "1", "mode": mode}, "output": {"version": "1", "mode": "enforce"}}
    _, client = await gateway(**EVERYTHING, policies=policies)
    text = (await client.get("/openapi.json")).text
    assert "x-open-enum" not in text
    doc = (await client.get("/openapi.json")).json()
    schema = doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    part_type = schema["properties"]["messages"]["items"]["properties"]["content"]["items"]["properties"]["type"]
    assert ("enum" in part_type) is enforced


async def test_every_schema_in_it_is_valid_and_every_working_request_matches_it(gateway: Any) -> None:
    _, client = await gateway(**EVERYTHING)
    doc = (await client.get("/openapi.json")).json()
    for item in doc["paths"].values():
        for operation in item.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                jsonschema.Draft202012Validator.check_schema(media["schema"])
            for response in operation["responses"].values():
                for media in response.get("content", {}).values():
                    jsonschema.Draft202012Validator.check_schema(media["schema"])
    for case in CASES:
        if case.json is None:
            continue
        operation = doc["paths"][case.path][case.method.lower()]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator(schema).validate(case.request()["json"])
