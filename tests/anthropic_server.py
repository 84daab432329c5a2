"""A loopback server for Anthropic's documented Message Batches and token-counting endpoints, for tests only.

No public emulator serves these endpoints, so this one does, over real HTTP on 127.0.0.1, in the shapes of the API
reference (https://platform.claude.com/docs/en/api/creating-message-batches and the anthropic SDK's own types):
create, retrieve, list (newest first, after_id/before_id/limit), cancel, results (JSONL), count_tokens, and the
real-time ``POST /v1/messages`` (for the pilot).
What a request is "billed" is the test's choice (``bill``, ``count``); faults can be injected per route: an HTTP
status (429, 500) or a dropped connection. It is driven through the real ``anthropic`` SDK; it never ships.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable

from tests.loopback import JsonHandler, LoopbackServer

KEY_HEADER = "x-api-key"
COUNT_REFUSES = {"max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "stream", "metadata",
                 "service_tier"}  # https://platform.claude.com/docs/en/api/messages-count-tokens takes none of these


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class MessageBatchesServer(LoopbackServer):
    def __init__(self, *, bill: Callable[[dict], dict] | None = None, count: Callable[[dict], int] | None = None,
                 polls_to_end: int = 1):
        self.bill = bill or (lambda params: {"input_tokens": 10, "output_tokens": 5})
        self.count = count or (lambda body: 10)
        self.polls_to_end = polls_to_end  # retrieves before a batch ends
        self.batches: dict[str, dict] = {}
        self.order: list[str] = []
        self.faults: dict[str, list] = {}  # route -> [status code or "drop", ...], consumed in order
        self.calls: list[tuple[str, str]] = []
        self.keys_seen: set[str] = set()
        self._ids = itertools.count(1)
        self._serve()

    def fail(self, route: str, *faults) -> None:
        """Inject faults for the next calls of ``route`` ("create", "retrieve", "list", "cancel", "results",
        "count"): an HTTP status (429, 500, 529), "drop" (the connection closes with no answer) or a ``Raw``
        answer."""
        self.faults.setdefault(route, []).extend(faults)

    def created(self) -> int:
        return sum(1 for m, p in self.calls if m == "POST" and p == "/v1/messages/batches")

    # -- the batch model -------------------------------------------------------------------------------------------
    def _new(self, requests: list[dict]) -> dict:
        batch_id = f"msgbatch_{next(self._ids):024d}"
        batch = {"id": batch_id, "type": "message_batch", "processing_status": "in_progress",
                 "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0, "canceled": 0,
                                    "expired": 0},
                 "created_at": _now(), "ended_at": None, "expires_at": None, "archived_at": None,
                 "cancel_initiated_at": None, "results_url": None}
        self.batches[batch_id] = {"batch": batch, "requests": requests, "polls": 0, "results": None}
        self.order.append(batch_id)
        return batch

    def _advance(self, entry: dict) -> None:
        batch = entry["batch"]
        if batch["processing_status"] == "ended":
            return
        entry["polls"] += 1
        if entry["polls"] < self.polls_to_end and batch["processing_status"] != "canceling":
            return
        results, counts = [], {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for request in entry["requests"]:
            params = request["params"]
            if batch["cancel_initiated_at"]:
                results.append({"custom_id": request["custom_id"], "result": {"type": "canceled"}})
                counts["canceled"] += 1
                continue
            usage = self.bill(params)
            if usage.get("error"):
                results.append({"custom_id": request["custom_id"], "result": {"type": "errored", "error": {
                    "type": "error", "error": {"type": usage["error"], "message": "refused by the test"}}}})
                counts["errored"] += 1
                continue
            if usage.get("expired"):
                results.append({"custom_id": request["custom_id"], "result": {"type": "expired"}})
                counts["expired"] += 1
                continue
            full = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0, **usage}
            results.append({"custom_id": request["custom_id"], "result": {"type": "succeeded", "message": {
                "id": f"msg_{request['custom_id']}", "type": "message", "role": "assistant",
                "model": params.get("model"), "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn", "stop_sequence": None, "usage": full}}})
            counts["succeeded"] += 1
        entry["results"] = results
        batch.update(processing_status="ended", ended_at=_now(), request_counts=counts,
                     results_url=f"{self.base_url}/v1/messages/batches/{batch['id']}/results")

    # -- HTTP --------------------------------------------------------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(JsonHandler):
            def _body(self) -> dict:
                length = int(self.headers.get("content-length") or 0)
                return json.loads(self.rfile.read(length) or b"{}")

            def _route(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                query = dict(p.split("=", 1) for p in self.path.split("?", 1)[1].split("&")) if "?" in self.path else {}
                bearer = (self.headers.get("authorization") or "").removeprefix("Bearer ")
                server.keys_seen.add(self.headers.get(KEY_HEADER) or bearer)  # the SDK sends one or the other
                body = self._body() if method == "POST" else {}
                with server._lock:
                    server.calls.append((method, path))
                    route, answer = server._dispatch(method, path, query, body)
                    faults = server.faults.get(route)
                    fault = faults.pop(0) if faults else None
                if self._fault(fault, lambda code: {"type": "error", "error": {
                        "type": "overloaded_error" if code >= 500 else "rate_limit_error", "message": "injected"}}):
                    return
                status, payload, kind = answer
                self._send(status, payload, kind)

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

        return Handler

    def _dispatch(self, method: str, path: str, query: dict, body: dict):
        """(route name, (status, payload, content type)). Faults are applied after the state change on purpose:
        a create whose answer is lost has still happened, as on the real service."""
        json_type = "application/json"
        if path == "/v1/messages/count_tokens" and method == "POST":
            # the endpoint takes the prompt only: Messages parameters that shape the answer are refused
            extra = sorted(set(body) & COUNT_REFUSES)
            if extra or not isinstance(body.get("messages"), list) or not isinstance(body.get("model"), str):
                why = f"{extra[0]}: Extra inputs are not permitted" if extra else "messages: Field required"
                return "count", (400, {"type": "error", "error": {"type": "invalid_request_error",
                                                                  "message": why}}, json_type)
            return "count", (200, {"input_tokens": self.count(body)}, json_type)
        if path == "/v1/messages" and method == "POST":  # the real-time Messages API (the pilot)
            if not isinstance(body.get("max_tokens"), int) or not isinstance(body.get("messages"), list):
                refused = {"type": "invalid_request_error", "message": "max_tokens: Field required"}
                return "message", (400, {"type": "error", "error": refused}, json_type)
            usage = self.bill(body)
            return "message", (200, {"id": f"msg_{next(self._ids):06d}", "type": "message", "role": "assistant",
                                     "model": body["model"], "content": [{"type": "text", "text": "ok"}],
                                     "stop_reason": "end_turn", "stop_sequence": None, "usage": usage}, json_type)
        if path == "/v1/messages/batches" and method == "POST":
            requests = body.get("requests")
            if not isinstance(requests, list) or not requests:
                return "create", (400, {"type": "error", "error": {"type": "invalid_request_error",
                                                                   "message": "requests: empty"}}, json_type)
            return "create", (200, self._new(requests), json_type)
        if path == "/v1/messages/batches" and method == "GET":
            ids = list(reversed(self.order))
            if "after_id" in query:
                ids = ids[ids.index(query["after_id"]) + 1:]
            limit = int(query.get("limit", 20))
            page = [self.batches[i]["batch"] for i in ids[:limit]]
            return "list", (200, {"data": page, "has_more": len(ids) > limit,
                                  "first_id": page[0]["id"] if page else None,
                                  "last_id": page[-1]["id"] if page else None}, json_type)
        parts = path.split("/")
        if len(parts) >= 5 and parts[:4] == ["", "v1", "messages", "batches"] and parts[4] in self.batches:
            entry = self.batches[parts[4]]
            tail = parts[5] if len(parts) > 5 else ""
            if method == "GET" and tail == "":
                self._advance(entry)
                return "retrieve", (200, entry["batch"], json_type)
            if method == "POST" and tail == "cancel":
                if entry["batch"]["processing_status"] != "ended":
                    entry["batch"].update(processing_status="canceling", cancel_initiated_at=_now())
                return "cancel", (200, entry["batch"], json_type)
            if method == "GET" and tail == "results" and entry["results"] is not None:
                lines = "".join(json.dumps(r) + "\n" for r in entry["results"]).encode()
                return "results", (200, lines, "application/binary")
        return "other", (404, {"type": "error", "error": {"type": "not_found_error", "message": path}}, json_type)
