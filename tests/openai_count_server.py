"""A loopback server for OpenAI's documented input-token counting endpoint, for tests only.

aimock does not serve ``POST /v1/responses/input_tokens``, so this does, over real HTTP on 127.0.0.1, in the shape
of the API reference (https://platform.openai.com/docs/api-reference/responses/input-tokens): it takes the
endpoint's own parameters only (anything else is a 400, as the API answers an unknown parameter) and answers
``{"object": "response.input_tokens", "input_tokens": N}``. What a request counts is the test's choice; faults can be
injected. It is driven through the real ``openai`` SDK; it never ships.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from tests.loopback import JsonHandler, LoopbackServer

TAKES = {"model", "input", "instructions", "tools", "tool_choice", "reasoning", "text", "parallel_tool_calls",
         "previous_response_id", "conversation", "truncation", "personality"}


class InputTokensServer(LoopbackServer):
    def __init__(self, count: Callable[[dict], int]):
        self.count = count
        self.bodies: list[dict] = []
        self.keys_seen: set[str] = set()
        self.faults: list = []
        self._serve()

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def fail(self, route: str, *faults) -> None:
        """Inject faults for the next count calls (``route`` "count", as the other servers name it): an HTTP status,
        "drop", or a ``Raw`` answer."""
        assert route == "count", route
        self.faults.extend(faults)

    def _handler(self):
        server = self

        class Handler(JsonHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                server.keys_seen.add((self.headers.get("authorization") or "").removeprefix("Bearer "))
                with server._lock:
                    fault = server.faults.pop(0) if server.faults else None
                    if self.path != "/v1/responses/input_tokens":
                        return self._send(404, {"error": {"message": f"no route {self.path}"}})
                    server.bodies.append(body)
                if self._fault(fault, lambda code: {"error": {"message": "injected", "type": "rate_limit_error"}}):
                    return
                extra = sorted(set(body) - TAKES)
                if extra:
                    return self._send(400, {"error": {"message": f"Unknown parameter: '{extra[0]}'.",
                                                      "type": "invalid_request_error", "param": extra[0]}})
                if not isinstance(body.get("input"), (list, str)):
                    return self._send(400, {"error": {"message": "Missing required parameter: 'input'."}})
                self._send(200, {"object": "response.input_tokens", "input_tokens": server.count(body)})

        return Handler
