"""The request path: the policy gateway, the in-process policy engine, the breaker and the client adapters.

It reads generated/ and never imports the compiler.
"""
