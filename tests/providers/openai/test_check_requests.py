"""check finds, line by line, what OpenAI's Batch API refuses in one request, with no finding on requests the API
accepted; estimate says how many requests check expects to fail, and its hot loop agrees with check."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.providers.openai.test_counting import COOKBOOK_MESSAGES, COOKBOOK_TOOL_MESSAGES, COOKBOOK_TOOLS


def chat(i, model="gpt-4o-mini", **body):
    return {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"hello {i}"}], **body}}


# what the issue found check passing, each with the rule that now refuses it
REFUSED = [
    (chat(1, messages=[{"role": "usr", "content": "hi"}]), "role"),
    (chat(2, stream=True), "stream"),
    (chat(3, model="o3-mini", max_tokens=100), "reasoning-max-tokens"),
    (chat(4, model="gpt-5-nano", temperature=0.2), "reasoning-sampling"),
    (chat(5, tools=[{"type": "function", "function": {"parameters": {"type": "object"}}}]), "tool"),
    (chat(6, messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://h/x.png"}}]}]),
     "image-url"),
    (chat(7, n=0), "range"),
    (chat(8, max_tokens=0), "range"),
    (chat(9, temperature=3), "range"),
    (chat(10, tools=[{"type": "function", "function": {"name": "has space", "parameters": {"type": "object"}}}]),
     "tool"),
    (chat(11, tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "dict"}}}]),
     "tool-schema"),
    (chat(12, messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:text/plain;base64,aGk="}}]}]), "invalid-body"),  # the counter reads data: URLs
    # Hardening III: what check missed
    ({"custom_id": "r13", "method": "POST", "url": "/v1/embeddings",
      "body": {"model": "text-embedding-ada-002", "input": "hi", "dimensions": 256}}, "dimensions"),
    ({"custom_id": "r14", "method": "POST", "url": "/v1/embeddings",
      "body": {"model": "text-embedding-3-small", "input": "hi", "dimensions": 4096}}, "dimensions"),
    ({"custom_id": "r15", "method": "POST", "url": "/v1/responses", "body": {"model": "gpt-4.1-mini", "input": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}]}}, "content-part"),  # chat's part type
    ({"custom_id": "r15", "method": "POST", "url": "/v1/responses", "body": {"model": "gpt-4.1-mini", "input": [
        {"type": "mystery_item", "role": "user", "content": "hi"}]}}, "input-item"),
    ('{"custom_id": "r16", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
     '"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000}}', "duplicate-key"),
]


@pytest.mark.parametrize("line, rule", REFUSED, ids=[f"{r}-{i}" for i, (_, r) in enumerate(REFUSED)])
def test_each_refusal_is_found_with_its_rule_line_and_scope(write_plan, cli, line, rule):
    parsed = line if isinstance(line, dict) else json.loads(line)
    if parsed["url"] == "/v1/chat/completions":
        first = chat(0, model=parsed["body"]["model"])
    else:  # a clean request of the same endpoint and model: only line 2 is refused
        first = {**parsed, "custom_id": "r0", "body": {"model": parsed["body"]["model"], "input": "hello"}}
    plan = write_plan([first, line])
    out = cli("check", plan, "--format", "json")
    assert out.returncode == 1, out.stdout
    doc = json.loads(out.stdout)
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert {(f["line"], f["rule"], f["scope"]) for f in errors} == {(2, rule, "request")}
    assert doc["failing_requests"] == 1 and doc["rejects_file"] is False
    text = cli("check", plan)
    assert f"{plan}:2: " in text.stdout and "1 request(s) would fail (the rest would run)" in text.stderr


def _accepted_plans(tmp_path):
    """Requests OpenAI accepted: the bundled examples, the cookbook's requests whose prompt_tokens the API reported
    (tests/test_counting.py), and the request lines of OpenAI's own batch guide."""
    listed = subprocess.run(["git", "ls-files", "*.jsonl"], capture_output=True, text=True, check=True).stdout.split()
    plans = [p for p in listed if "bad_inputs" not in p and not p.startswith(("examples/anthropic", "examples/gemini"))]
    rows = [chat(0, model="gpt-4o", messages=COOKBOOK_MESSAGES),
            chat(1, model="gpt-4o", messages=COOKBOOK_TOOL_MESSAGES, tools=COOKBOOK_TOOLS),
            # https://platform.openai.com/docs/guides/batch, the input file example
            {"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": "gpt-3.5-turbo-0125", "messages": [
                 {"role": "system", "content": "You are a helpful assistant."},
                 {"role": "user", "content": "Hello world!"}], "max_tokens": 1000}},
            chat(2, model="gpt-4o", temperature=0, top_p=1, seed=7, response_format={"type": "json_object"},
                 logprobs=True, top_logprobs=3, presence_penalty=0.5, frequency_penalty=-0.5, n=2,
                 stop=["\n"], user="u1", metadata={"k": "v"}, store=False),
            chat(3, model="gpt-5-mini", max_completion_tokens=500, reasoning_effort="low", temperature=1),
            chat(4, model="gpt-5.1", temperature=0.3, reasoning_effort="none"),
            chat(5, model="o4-mini", messages=[{"role": "developer", "content": "Be brief."},
                                               {"role": "user", "content": "hi"}], max_completion_tokens=50),
            # the Responses API reference's input shapes: parts, an assistant turn, a tool call and its output
            {"custom_id": "resp-1", "method": "POST", "url": "/v1/responses", "body": {"model": "gpt-4.1", "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "what is in this image?"},
                                             {"type": "input_image", "image_url": "https://example.com/a.jpg"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A cat."}]},
                {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"}], "max_output_tokens": 100}},
            {"custom_id": "emb-1", "method": "POST", "url": "/v1/embeddings",
             "body": {"model": "text-embedding-3-small", "input": "hello", "dimensions": 256}}]
    mixed = tmp_path / "accepted.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return plans, rows


def test_requests_the_api_accepted_give_no_finding_at_all(tmp_path):
    from batchcost import providers
    from batchcost.plans.check import check_plan
    from batchcost.plans.reader import PlanLine

    provider = providers.get("openai")

    plans, rows = _accepted_plans(tmp_path)
    assert len(plans) >= 2
    for path in plans:
        assert [f.one_line(path) for f in check_plan(path)] == [], path
    for n, row in enumerate(rows, 1):  # one model per file: the lines are judged on their own
        item = PlanLine(n, row["custom_id"], "POST", row["url"], row["body"], 0, b"", provider="openai")
        assert list(provider.check_request(item)) == [], row


def test_uncertain_rules_are_warnings_that_do_not_fail_check(write_plan, cli):
    plan = write_plan([chat(0, model="gpt-5.1", temperature=0.2), chat(1, model="gpt-5.1", frobnicate=1)])
    out = cli("check", plan, "--format", "json")
    assert out.returncode == 0, out.stdout
    doc = json.loads(out.stdout)
    assert doc["ok"] is True and {f["rule"] for f in doc["findings"]} == {"reasoning-sampling", "unknown-parameter"}
    assert all(f["severity"] == "warning" for f in doc["findings"])
    text = cli("check", plan)
    assert text.returncode == 0 and "warning:" in text.stdout and "2 warning(s)" in text.stderr


def test_file_level_findings_say_the_whole_file_is_refused(write_plan, cli):
    plan = write_plan([chat(0), chat(0)])
    doc = json.loads(cli("check", plan, "--format", "json").stdout)
    assert doc["rejects_file"] is True and doc["findings"][0]["scope"] == "file"


def test_the_hot_path_roles_are_the_sdks():
    from batchcost.providers.openai.rules import CHAT_ROLES, RESPONSES_PARTS, _sdk

    assert CHAT_ROLES == _sdk()["roles"] and RESPONSES_PARTS == _sdk()["responses_parts"]


@pytest.mark.parametrize("engine", [[], ["--jobs", "2"]])
def test_estimate_counts_the_requests_check_expects_to_fail_and_keeps_the_totals(write_plan, cli, engine):
    rows = []
    for i in range(400):  # mostly plain requests on the fast path, with refusals of every kind among them
        kind = i % 8
        if kind == 1:
            rows.append(chat(i, temperature=2.5))
        elif kind == 3:
            rows.append(chat(i, max_tokens=0))
        elif kind == 5:
            rows.append(chat(i, messages=[{"role": "usr", "content": f"hi {i}"}]))
        elif kind == 7 and i % 16 == 7:  # one tools block without a name, shared by 25 requests
            rows.append(chat(i, tools=[{"type": "function", "function": {"parameters": {"type": "object"}}}]))
        elif kind == 7:  # and a good one, shared by the other 25
            rows.append(chat(i, tools=[{"type": "function", "function": {"name": "f", "parameters": {
                "type": "object", "properties": {"x": {"type": "string"}}}}}]))
        else:
            rows.append(chat(i, temperature=0.2, max_tokens=30))
    plan = write_plan(rows)
    expected = json.loads(cli("check", plan, "--format", "json").stdout)["failing_requests"]
    assert expected == 175
    out = cli("estimate", plan, "--format", "json", *engine)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["check"]["failing_requests"] == expected and doc["plan"]["requests"] == 400
    assert any("expects 175 request(s) to be refused" in w for w in doc["warnings"])
    clean = write_plan([r for r in rows if r["body"].get("temperature") == 0.2], name="clean.jsonl")
    doc = json.loads(cli("estimate", clean, "--format", "json", *engine).stdout)
    assert doc["check"]["failing_requests"] == 0 and not any("refused" in w for w in doc["warnings"])


def test_reasoning_models_on_the_fast_path_are_judged_by_their_family(write_plan, cli):
    rows = [chat(i, model="gpt-5-nano", temperature=0.2 if i % 2 else 1, max_completion_tokens=20)
            for i in range(40)]
    plan = write_plan(rows)
    doc = json.loads(cli("estimate", plan, "--format", "json").stdout)
    assert doc["check"]["failing_requests"] == 20
    assert json.loads(cli("check", plan, "--format", "json").stdout)["failing_requests"] == 20


def test_a_sampled_estimate_estimates_the_failures_too(write_plan, cli):
    """--sample sees only the drawn lines: the count check expects to fail is an estimate with its 95% interval,
    which holds the true count (a quarter of 2,000 requests) for a fixed seed."""
    rows = [chat(i, n=0) if i % 4 == 0 else chat(i, max_tokens=30) for i in range(2000)]
    plan = write_plan(rows)
    assert json.loads(cli("check", plan, "--format", "json").stdout)["failing_requests"] == 500
    doc = json.loads(cli("estimate", plan, "--sample", "400", "--seed", "7", "--format", "json").stdout)
    failing = doc["sample"]["failing_requests"]
    assert failing["low"] <= 500 <= failing["high"] and 300 < failing["estimate"] < 700
    assert any("expected to refuse about" in w for w in doc["warnings"])
    clean = write_plan(rows[1:4] * 300, name="clean.jsonl")
    doc = json.loads(cli("estimate", clean, "--sample", "100", "--seed", "7", "--format", "json").stdout)
    assert doc["sample"]["failing_requests"]["estimate"] == 0 and not any("refuse" in w for w in doc["warnings"])


def claude(i, **params):
    return {"custom_id": f"c{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 50,
                                             "messages": [{"role": "user", "content": f"hello {i}"}], **params}}


def gemini(i, **request):
    return {"key": f"g{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"hello {i}"}]}],
                                        **request}}


PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
PDF = "JVBERi0xLjQKMSAwIG9iaiA8PC9UeXBlIC9QYWdlPj4gZW5kb2JqCnRyYWlsZXIgPDw+PgolJUVPRgo="  # a one-page PDF
OTHER_PROVIDERS_REFUSED = [
    (claude(1, stream=True), "stream"),
    (claude(2, messages=[{"role": "human", "content": "hi"}]), "role"),
    (claude(3, tools=[{"input_schema": {"type": "object"}}]), "tool"),
    (claude(4, tools=[{"name": "lookup"}]), "tool-schema"),
    (claude(5, tools=[{"name": "lookup", "input_schema": {"type": "string"}}]), "tool-schema"),
    (claude(6, messages=[{"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "image/bmp", "data": PNG_1PX}}]}]), "image-media-type"),
    (claude(7, messages=[{"role": "user", "content": [{"type": "image", "source": {
        "type": "url", "url": "ftp://h/x.png"}}]}]), "image-url"),
    (gemini(1, contents=[{"role": "assistant", "parts": [{"text": "hi"}]}]), "role"),
    (gemini(2, generationConfig={"temperature": 3}), "range"),
    (gemini(3, generationConfig={"topP": 1.5}), "range"),
    (gemini(4, generationConfig={"candidateCount": 0}), "range"),
    (gemini(5, generationConfig={"maxOutputTokens": 0}), "range"),
    # Hardening III: what check missed, each documented by the API
    (claude(8, max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 2000}), "thinking"),
    (claude(9, max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 512}), "thinking"),
    (claude(10, system=[{"type": "text", "text": f"part {k}", "cache_control": {"type": "ephemeral"}}
                        for k in range(5)]), "cache-breakpoints"),
    (claude(11, system=[{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "2h"}}]),
     "cache-control"),
    (claude(12, system=[{"type": "text", "text": "rules", "cache_control": {"type": "persistent"}}]),
     "cache-control"),
    (claude(13, messages=[{"role": "user", "content": [{"type": "document", "source": {
        "type": "base64", "media_type": "application/msword", "data": PDF}}]}]), "document-media-type"),
    (claude(14, messages=[{"role": "user", "content": [{"type": "document", "source": {
        "type": "base64", "media_type": "application/pdf", "data": PNG_1PX}}]}]), "document-data"),
    (claude(15, messages=[{"role": "user", "content": ""}]), "empty-content"),
    (claude(16, messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]), "empty-content"),
    (claude(17, messages=[{"role": "user", "content": [{"type": "picture", "url": "https://h/x.png"}]}]),
     "block-type"),
    (gemini(6, contents=[{"role": "user", "parts": []}]), "empty-content"),
    (gemini(7, contents=[{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png",
                                                                   "data": "not base64!"}}]}]), "inline-data"),
    (gemini(8, contents=[{"role": "user", "parts": [{"inlineData": {"mimeType": "image/banana",
                                                                   "data": PNG_1PX}}]}]), "mime-type"),
    (gemini(9, contents=[{"role": "user", "parts": [{"inlineData": {"mimeType": "png", "data": PNG_1PX}}]}]),
     "mime-type"),
]


@pytest.mark.parametrize("line, rule", OTHER_PROVIDERS_REFUSED,
                         ids=[f"{'claude' if 'params' in line else 'gemini'}-{r}-{i}"
                              for i, (line, r) in enumerate(OTHER_PROVIDERS_REFUSED)])
def test_claude_and_gemini_requests_are_judged_too(write_plan, cli, line, rule):
    first = claude(0) if "params" in line else gemini(0)
    extra = [] if "params" in line else ["--model", "gemini-2.5-flash"]
    plan = write_plan([first, line])
    out = cli("check", plan, "--format", "json", *extra)
    assert out.returncode == 1, out.stdout + out.stderr
    errors = [f for f in json.loads(out.stdout)["findings"] if f["severity"] == "error"]
    assert rule in {f["rule"] for f in errors} and {f["line"] for f in errors} == {2}, errors
    if not any(f["rule"] == "invalid-body" for f in errors):  # a body the counter refuses is not estimated
        doc = json.loads(cli("estimate", plan, "--format", "json", *extra).stdout)
        assert doc["check"]["failing_requests"] == 1


def test_claude_and_gemini_requests_the_apis_accept_give_no_finding(write_plan, cli):
    history = [{"role": "user", "content": [{"type": "text", "text": "Weather in Paris?", "cache_control": {
                   "type": "ephemeral", "ttl": "1h"}}]},
               {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather",
                                                  "input": {"city": "Paris"}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
                   {"type": "text", "text": "18 C"}], "cache_control": {"type": "ephemeral"}},
                   {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
                   {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}}]},
               {"role": "assistant", "content": ""}]  # an empty final assistant turn: a prefill
    weather = {"name": "get_weather", "description": "Weather for a city", "cache_control": {"type": "ephemeral"},
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    accepted = [claude(1, max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2048}, tools=[weather],
                       system=[{"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}}],
                       messages=history),
                claude(0, system="Be brief.", temperature=0.2, stop_sequences=["\n"], metadata={"user_id": "u"},
                       tools=[{"name": "get_weather", "description": "Weather for a city",
                               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                                "required": ["city"]}},
                              {"type": "web_search_20250305", "name": "web_search"}],
                       messages=[{"role": "user", "content": [
                           {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                        "data": PNG_1PX}},
                           {"type": "text", "text": "What is this?"}]},
                           {"role": "assistant", "content": "A pixel."}, {"role": "user", "content": "Thanks"}])]
    for plan, extra in ((write_plan(accepted), []),
                        (write_plan([gemini(0, systemInstruction={"parts": [{"text": "Be brief."}]},
                                            generationConfig={"temperature": 0.7, "top_p": 0.9, "maxOutputTokens": 64,
                                                              "responseMimeType": "application/json",
                                                              "candidateCount": 1},
                                            safetySettings=[], tools=[]),
                                     gemini(1, contents=[{"role": "user", "parts": [{"text": "hi"}]},
                                                         {"role": "model", "parts": [{"text": "hello"}]},
                                                         {"parts": [{"text": "and?"}]}]),
                                     gemini(2, contents=[{"role": "user", "parts": [
                                         {"inlineData": {"mimeType": "image/png",
                                                         "data": PNG_1PX.replace("+", "-").replace("/", "_")}},
                                         {"fileData": {"mimeType": "application/pdf",
                                                       "fileUri": "https://example.com/a.pdf"}},
                                         {"text": "Compare."}]}])], name="g.jsonl"),
                         ["--model", "gemini-2.5-flash"]),
                        (Path("examples/anthropic/triage.jsonl"), []),
                        (Path("examples/gemini/triage.jsonl"), ["--model", "gemini-2.5-flash"])):
        out = cli("check", plan, "--format", "json", *extra)
        errors = [f for f in json.loads(out.stdout)["findings"] if f["severity"] == "error"]
        assert out.returncode == 0 and errors == [], (plan, out.stdout, out.stderr)


def test_the_estimates_copies_of_the_anthropic_sdk_facts_are_the_sdks():
    """The estimate judges Claude requests without importing the anthropic SDK (most of a second): its roles and
    image media types must be the SDK's own."""
    from batchcost.providers.anthropic import rules as anthropic_rules

    sdk = anthropic_rules._sdk()
    assert {key: sdk[key] for key in anthropic_rules.FACTS} == anthropic_rules.FACTS
