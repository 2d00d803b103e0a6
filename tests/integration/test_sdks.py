"""The official SDKs, pointed at the gateway, work for every endpoint they have: OpenAI's and
Anthropic's Python SDKs and the MCP Python SDK, through the staging gateway (policies in enforce)
in front of a real LiteLLM proxy, the fake provider behind it. A refusal reaches each SDK as its
own permission error, with the gateway's details in the body."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from gateway_stack import CLIENT_KEYS, ENDPOINT_MODELS, MCP_SERVER, FakeProviderProcess, Gateway

pytestmark = pytest.mark.integration

REPLY = "Hello from the fake provider."
EMAIL = "jane.doe@example.com"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def oai(staging_gateway: Gateway, fake_provider: FakeProviderProcess) -> Iterator[openai.OpenAI]:
    fake_provider.reset()
    client = openai.OpenAI(base_url=f"{staging_gateway.url}/v1", api_key=CLIENT_KEYS[0], max_retries=0)
    yield client
    client.close()


@pytest.fixture
def claude(staging_gateway: Gateway, fake_provider: FakeProviderProcess) -> Iterator[anthropic.Anthropic]:
    fake_provider.reset()
    client = anthropic.Anthropic(base_url=staging_gateway.url, api_key=CLIENT_KEYS[0], max_retries=0)
    yield client
    client.close()


def _user(text: str = "hello") -> list[Any]:
    return [{"role": "user", "content": text}]


def test_chat_completions(oai: openai.OpenAI) -> None:
    answer = oai.chat.completions.create(model="chat-default", messages=_user())
    assert answer.choices[0].message.content == REPLY
    streamed = oai.chat.completions.create(model="chat-default", messages=_user(), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == REPLY


def test_completions(oai: openai.OpenAI) -> None:
    model = ENDPOINT_MODELS["completions"]
    assert oai.completions.create(model=model, prompt="hello").choices[0].text == REPLY
    streamed = oai.completions.create(model=model, prompt="hello", stream=True)
    assert "".join(c.choices[0].text or "" for c in streamed if c.choices) == REPLY


def test_responses(oai: openai.OpenAI) -> None:
    assert oai.responses.create(model="chat-default", input="hello").output_text == REPLY
    with oai.responses.stream(model="chat-default", input="hello") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == REPLY and final.output_text == REPLY


def test_embeddings(oai: openai.OpenAI) -> None:
    answer = oai.embeddings.create(model=ENDPOINT_MODELS["embeddings"], input=["hello", "world"])
    assert len(answer.data) == 2 and len(answer.data[0].embedding) > 0


def test_images_generate_and_edit(oai: openai.OpenAI) -> None:
    model = ENDPOINT_MODELS["images"]
    generated = oai.images.generate(model=model, prompt="a lighthouse at dusk")
    assert generated.data and generated.data[0].url
    edited = oai.images.edit(model=model, image=("cat.png", io.BytesIO(PNG), "image/png"), prompt="add a hat")
    assert edited.data and edited.data[0].url


def test_audio_speech_and_transcription(oai: openai.OpenAI) -> None:
    speech = oai.audio.speech.create(model=ENDPOINT_MODELS["speech"], voice="alloy", input="hello")
    assert speech.read().startswith(b"RIFF")
    text = oai.audio.transcriptions.create(model=ENDPOINT_MODELS["transcription"], file=("a.wav", WAV, "audio/wav"))
    assert text.text.strip() == REPLY


def test_moderations(oai: openai.OpenAI) -> None:
    result = oai.moderations.create(model=ENDPOINT_MODELS["moderations"], input="hello")
    assert result.results and result.results[0].flagged is False


def test_files_and_batches(oai: openai.OpenAI) -> None:
    line = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "chat-default", "messages": _user()}}
    upload = oai.files.create(file=("in.jsonl", json.dumps(line).encode() + b"\n"), purpose="batch")
    assert upload.id and upload.purpose == "batch"
    batch = oai.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
    done = oai.batches.retrieve(batch.id)
    assert done.status == "completed" and done.output_file_id
    output = oai.files.content(done.output_file_id).text
    assert json.loads(output.splitlines()[0])["response"]["body"]["choices"][0]["message"]["content"] == REPLY


def test_openai_sdk_raises_permission_denied_with_the_decision(
    oai: openai.OpenAI, fake_provider: FakeProviderProcess
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        oai.chat.completions.create(model="chat-default", messages=_user(f"mail {EMAIL}"))
    error = caught.value.body
    assert isinstance(error, dict) and error["type"] == "policy_violation" and error["categories"] == ["pii"]
    assert caught.value.response.headers["x-policy-decision"] == "block"
    assert not fake_provider.saw(EMAIL)


def test_anthropic_messages(claude: anthropic.Anthropic) -> None:
    model = ENDPOINT_MODELS["messages"]
    answer = claude.messages.create(model=model, max_tokens=64, messages=_user())
    assert "".join(b.text for b in answer.content if b.type == "text") == REPLY
    with claude.messages.stream(model=model, max_tokens=64, messages=_user()) as stream:
        assert "".join(stream.text_stream) == REPLY
    tokens = claude.messages.count_tokens(model=model, messages=_user())
    assert tokens.input_tokens > 0


def test_anthropic_sdk_raises_permission_denied_with_the_decision(
    claude: anthropic.Anthropic, fake_provider: FakeProviderProcess
) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        claude.messages.create(model=ENDPOINT_MODELS["messages"], max_tokens=64, messages=_user(f"mail {EMAIL}"))
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["gateway_type"] == "policy_violation"
    assert not fake_provider.saw(EMAIL)


def test_mcp_sdk_lists_and_calls_tools_through_the_gateway(staging_gateway: Gateway) -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def run() -> tuple[set[str], str]:
        http = create_mcp_http_client(headers={"authorization": f"Bearer {CLIENT_KEYS[0]}"})
        async with (
            http,
            streamable_http_client(f"{staging_gateway.url}/mcp/", http_client=http) as streams,
            ClientSession(streams[0], streams[1]) as session,
        ):
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            result = await session.call_tool(f"{MCP_SERVER}-lookup", {"text": "find me"})
            return tools, "".join(getattr(c, "text", "") for c in result.content)

    tools, text = asyncio.run(run())
    assert f"{MCP_SERVER}-lookup" in tools
    assert text == REPLY
