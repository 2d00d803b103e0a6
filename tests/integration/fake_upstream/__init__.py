"""The fake model provider behind LiteLLM in the integration tests: every upstream API LiteLLM
proxies (OpenAI, Anthropic, Cohere rerank, an MCP server, an A2A agent) with its real response
shape and stream format, a control API for tests and a record of every request.

`server.py` is the HTTP plumbing, the state and the control API; `openai_api.py`,
`anthropic_api.py` and `agents.py` build the answers; `wire.py` holds the small shared helpers.
`tests/integration/fake_provider.py` is the entry point (script and importable module).
"""
