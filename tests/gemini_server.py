"""A loopback server for the Gemini API's documented Batch Mode, Files and countTokens endpoints, for tests only.

No public emulator serves these endpoints, so this one does, over real HTTP on 127.0.0.1, in the shapes of the API
reference (https://ai.google.dev/api/batch-mode, https://ai.google.dev/api/files, the resumable upload protocol)
as google-genai sends and reads them: the resumable upload (start, then "upload, finalize"), files.list, a batch
created from an uploaded file (``models/M:batchGenerateContent`` and ``models/M:asyncBatchEmbedContent``, answered
as a long-running operation whose metadata is the batch), batches.get / list / cancel, the results file download
(``files/F:download?alt=media``), ``models/M:countTokens`` and ``models/M:generateContent`` (the pilot).
What a request is "billed" is the test's choice (``bill``, ``count``); faults can be injected per route: an HTTP
status (429, 500) or a dropped connection. It is driven through the real ``google-genai`` SDK; it never ships.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from tests.loopback import JsonHandler, LoopbackServer

KEY_HEADER = "x-goog-api-key"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _error(code: int, message: str, status: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


class GeminiBatchServer(LoopbackServer):
    def __init__(self, *, bill: Callable[[dict], dict] | None = None, count: Callable[[dict], int] | None = None,
                 polls_to_end: int = 1):
        self.bill = bill or (lambda request: {"promptTokenCount": 10, "candidatesTokenCount": 5})
        self.count = count or (lambda body: 10)
        self.polls_to_end = polls_to_end  # gets before a batch ends
        self.files: dict[str, dict] = {}  # name -> {"meta", "data"}
        self.uploads: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.order: list[str] = []
        self.faults: dict[str, list] = {}
        self.calls: list[tuple[str, str]] = []
        self.keys_seen: set[str] = set()
        self._ids = itertools.count(1)
        self._serve()

    def fail(self, route: str, *faults) -> None:
        """Inject faults for the next calls of ``route`` ("upload", "files", "create", "get", "list", "cancel",
        "download", "count", "generate"): an HTTP status, "drop" (the connection closes with no answer) or a ``Raw``
        answer."""
        self.faults.setdefault(route, []).extend(faults)

    def created(self) -> int:
        return sum(1 for m, p in self.calls if m == "POST" and p.endswith((":batchGenerateContent",
                                                                              ":asyncBatchEmbedContent")))

    # -- the model -----------------------------------------------------------------------------------------------
    def _operation(self, entry: dict) -> dict:
        batch = entry["batch"]
        done = batch["state"] in ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED",
                                  "BATCH_STATE_EXPIRED")
        kind = "EmbedContentBatch" if entry["embed"] else "GenerateContentBatch"
        op = {"name": batch["name"], "metadata": {"@type": f"type.googleapis.com/google.ai.generativelanguage."
                                                            f"v1main.{kind}", **batch}, "done": done}
        if done and "output" in batch:
            op["response"] = {"@type": f"type.googleapis.com/google.ai.generativelanguage.v1main.{kind}Output",
                              **batch["output"]}
        return op

    def _new(self, model: str, body: dict, embed: bool) -> tuple[int, dict]:
        batch = body.get("batch") or {}
        source = (batch.get("inputConfig") or {}).get("fileName") or (batch.get("inputConfig") or {}).get(
            "file_name")
        if source not in self.files:
            return 400, _error(400, f"inputConfig.fileName {source!r} is not an uploaded file", "INVALID_ARGUMENT")
        lines = [json.loads(raw) for raw in self.files[source]["data"].splitlines() if raw.strip()]
        bad = [n for n, line in enumerate(lines, 1) if not isinstance(line.get("request"), dict)]
        if bad:
            return 400, _error(400, f"line {bad[0]} has no request", "INVALID_ARGUMENT")
        name = f"batches/{next(self._ids):012d}test"
        now = _now()
        state = {"name": name, "model": model, "displayName": batch.get("displayName", ""),
                 "inputConfig": {"fileName": source}, "createTime": now, "updateTime": now,
                 "state": "BATCH_STATE_PENDING",
                 "batchStats": {"requestCount": str(len(lines)), "pendingRequestCount": str(len(lines))}}
        entry = {"batch": state, "lines": lines, "polls": 0, "embed": embed, "cancelled": False}
        self.batches[name] = entry
        self.order.append(name)
        return 200, self._operation(entry)

    def _advance(self, entry: dict) -> None:
        batch = entry["batch"]
        if batch["state"] not in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
            return
        entry["polls"] += 1
        if entry["cancelled"]:
            batch.update(state="BATCH_STATE_CANCELLED", endTime=_now(), updateTime=_now())
            return
        if entry["polls"] < self.polls_to_end:
            batch["state"] = "BATCH_STATE_RUNNING"
            return
        results, ok, failed = [], 0, 0
        for line in entry["lines"]:
            usage = self.bill(line["request"])
            if usage.get("error"):
                results.append({"key": line.get("key"), "error": {"code": 400, "message": "refused by the test",
                                                                  "status": usage["error"]}})
                failed += 1
            elif entry["embed"]:
                results.append({"key": line.get("key"), "response": {
                    "embedding": {"values": [0.1, 0.2, 0.3]}, "tokenCount": str(usage["promptTokenCount"])}})
                ok += 1
            else:
                results.append({"key": line.get("key"), "response": {
                    "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
                    "usageMetadata": {**usage, "totalTokenCount": sum(v for v in usage.values()
                                                                       if isinstance(v, int))},
                    "modelVersion": batch["model"].removeprefix("models/")}})
                ok += 1
        name = f"files/batch-{batch['name'].split('/')[1]}"
        data = "".join(json.dumps(r) + "\n" for r in results).encode()
        self.files[name] = {"meta": {"name": name, "mimeType": "application/jsonl", "sizeBytes": str(len(data)),
                                     "source": "GENERATED", "downloadUri": f"{self.base_url}/download/v1beta/"
                                                                           f"{name}:download?alt=media"},
                            "data": data}
        batch.update(state="BATCH_STATE_SUCCEEDED", endTime=_now(), updateTime=_now(),
                     output={"responsesFile": name},
                     batchStats={"requestCount": str(len(results)), "successfulRequestCount": str(ok),
                                 "failedRequestCount": str(failed)})

    # -- HTTP --------------------------------------------------------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(JsonHandler):
            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                server.keys_seen.add(self.headers.get(KEY_HEADER) or query.get("key") or "")
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                with server._lock:
                    server.calls.append((method, url.path))
                    route, answer = server._dispatch(method, url.path, query, dict(self.headers), raw)
                    faults = server.faults.get(route)
                    fault = faults.pop(0) if faults else None
                if self._fault(fault, lambda code: _error(code, "injected", "RESOURCE_EXHAUSTED" if code == 429
                                                          else "UNAVAILABLE")):
                    return
                status, payload, headers, kind = answer
                self._send(status, payload, kind, headers)

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

        return Handler

    def _dispatch(self, method: str, path: str, query: dict, headers: dict, raw: bytes):
        """(route, (status, payload, headers, content type)). State changes before faults are applied: a create
        whose answer is lost has still happened, as on the real service."""
        js = "application/json"
        lower = {k.lower(): v for k, v in headers.items()}
        if path == "/upload/v1beta/files" and method == "POST":
            command = lower.get("x-goog-upload-command", "")
            if command == "start":
                sent = json.loads(raw or b"{}").get("file") or {}
                meta = {"displayName": sent.get("displayName", sent.get("display_name", "")),
                        "mimeType": sent.get("mimeType", sent.get("mime_type", ""))}
                upload_id = str(next(self._ids))
                self.uploads[upload_id] = {"meta": meta, "data": b"",
                                           "size": int(lower.get("x-goog-upload-header-content-length") or 0)}
                return "upload", (200, {}, {"x-goog-upload-url": f"{self.base_url}/upload/v1beta/files?upload_id="
                                                                 f"{upload_id}", "x-goog-upload-status": "active"}, js)
            upload = self.uploads.get(query.get("upload_id", ""))
            if upload is None:
                return "upload", (404, _error(404, "no such upload", "NOT_FOUND"), {}, js)
            if int(lower.get("x-goog-upload-offset") or -1) != len(upload["data"]):
                return "upload", (400, _error(400, "wrong offset", "INVALID_ARGUMENT"), {}, js)
            upload["data"] += raw
            if "finalize" not in command:
                return "upload", (200, {}, {"x-goog-upload-status": "active"}, js)
            name = f"files/{next(self._ids):08d}up"
            now = _now()
            meta = {**upload["meta"], "name": name, "sizeBytes": str(len(upload["data"])), "createTime": now,
                    "updateTime": now, "state": "ACTIVE", "source": "UPLOADED", "uri": f"{self.base_url}/v1beta/{name}"}
            self.files[name] = {"meta": meta, "data": upload["data"]}
            return "upload", (200, {"file": meta}, {"x-goog-upload-status": "final"}, js)
        if path == "/v1beta/files" and method == "GET":
            files = [f["meta"] for f in reversed(self.files.values()) if f["meta"].get("source") == "UPLOADED"]
            start = int(query.get("pageToken") or 0)
            size = int(query.get("pageSize") or 10)
            page = files[start:start + size]
            answer = {"files": page}
            if start + size < len(files):
                answer["nextPageToken"] = str(start + size)
            return "files", (200, answer, {}, js)
        if path.startswith(("/v1beta/files/", "/download/v1beta/files/")) and path.endswith(":download"):
            name = "files/" + path.rsplit("/", 1)[1].removesuffix(":download")
            entry = self.files.get(name)
            if entry is None or entry["meta"].get("source") != "GENERATED":
                return "download", (404, _error(404, f"{name} cannot be downloaded", "NOT_FOUND"), {}, js)
            return "download", (200, entry["data"], {}, "application/octet-stream")
        if path.startswith("/v1beta/models/") and method == "POST" and ":" in path:
            model, verb = path.removeprefix("/v1beta/").rsplit(":", 1)
            body = json.loads(raw or b"{}")
            if verb in ("batchGenerateContent", "asyncBatchEmbedContent"):
                status, answer = self._new(model, body, verb == "asyncBatchEmbedContent")
                return "create", (status, answer, {}, js)
            if verb == "countTokens":
                if not isinstance(body.get("contents"), list) and "generateContentRequest" not in body:
                    return "count", (400, _error(400, "contents is required", "INVALID_ARGUMENT"), {}, js)
                return "count", (200, {"totalTokens": self.count(body)}, {}, js)
            if verb == "generateContent":
                usage = self.bill(body)
                return "generate", (200, {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]},
                                                          "finishReason": "STOP"}],
                                          "usageMetadata": usage, "modelVersion": model.removeprefix("models/")},
                                    {}, js)
        if path == "/v1beta/batches" and method == "GET":
            names = list(reversed(self.order))
            start = int(query.get("pageToken") or 0)
            size = int(query.get("pageSize") or 10)
            answer = {"operations": [self._operation(self.batches[n]) for n in names[start:start + size]]}
            if start + size < len(names):
                answer["nextPageToken"] = str(start + size)
            return "list", (200, answer, {}, js)
        if path.startswith("/v1beta/batches/"):
            tail = path.removeprefix("/v1beta/")
            name, _, verb = tail.partition(":")
            entry = self.batches.get(name)
            if entry is None:
                return "get", (404, _error(404, f"{name} not found", "NOT_FOUND"), {}, js)
            if method == "GET" and not verb:
                self._advance(entry)
                return "get", (200, self._operation(entry), {}, js)
            if method == "POST" and verb == "cancel":
                if entry["batch"]["state"] in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
                    entry["cancelled"] = True
                return "cancel", (200, {}, {}, js)
        return "other", (404, _error(404, f"{method} {path} is not served here", "NOT_FOUND"), {}, js)
