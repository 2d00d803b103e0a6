"""OpenAI chat completions (`/v1/chat/completions`): where the texts of a request and an answer are.

Everything not named here is read as text (see _walk): content as a string or as parts of any type,
`name`, tool-call and function-call arguments, tool descriptions and schemas, `response_format`
schemas, `stop`, `metadata`, `user`, prediction content.
"""

from __future__ import annotations

from runtime.endpoints._walk import data_uri, shape

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal", "input_text")

REQUEST = shape(
    {
        # The router refuses a model the specs do not name before any policy runs.
        "model": {"skip": True},
        "messages[]": {"role_key": "role"},
        "messages[].role": {"enum": ROLES},
        "messages[].content[].type": {"enum": _PART_TYPES},
        "messages[].content[].image_url.url": {"binary": ("image", data_uri)},
        "messages[].content[].image_url.detail": {"enum": ("auto", "low", "high")},
        "messages[].content[].input_audio.data": {"binary": "audio"},
        "messages[].content[].input_audio.format": {"enum": ("wav", "mp3")},
        "messages[].content[].file.file_data": {"binary": "file"},
        "messages[].tool_calls[].type": {"enum": ("function",)},
        "tools[].type": {"enum": ("function",)},
        "tool_choice": {"enum": ("none", "auto", "required")},
        "tool_choice.type": {"enum": ("function",)},
        "function_call": {"enum": ("none", "auto")},
        "response_format.type": {"enum": ("text", "json_object", "json_schema")},
        "service_tier": {"enum": ("auto", "default", "flex", "scale", "priority")},
        "modalities[]": {"enum": ("text", "audio")},
        "audio.format": {"enum": ("wav", "mp3", "flac", "opus", "pcm16", "aac")},
        "prediction.type": {"enum": ("content",)},
        "reasoning_effort": {"enum": ("minimal", "low", "medium", "high")},
        "verbosity": {"enum": ("low", "medium", "high")},
    }
)

# Token fields a chat request may carry; the budget uses the largest (a client cannot talk it
# down by sending a small one beside a large one).
OUTPUT_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")

ANSWER = shape(
    {
        "object": {"enum": ("chat.completion",)},
        "service_tier": {"enum": ("auto", "default", "flex", "scale", "priority")},
        "choices[].finish_reason": {"enum": ("stop", "length", "tool_calls", "content_filter", "function_call")},
        "choices[].message.role": {"enum": ("assistant",)},
        "choices[].message.tool_calls[].type": {"enum": ("function",)},
        "choices[].message.audio.data": {"binary": "audio"},
    }
)
