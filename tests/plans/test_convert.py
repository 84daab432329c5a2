"""One workload, another provider: `batchcost convert` and cross-provider comparison in `report` and the library.
The translation carries system text, turns, images, PDFs, tools, tool calls and results, tool choice, a JSON schema,
the output bound and sampling, and says what it cannot carry; it is checked on real requests of every provider."""
from __future__ import annotations

import base64
import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

from batchcost import providers
from batchcost.core.records import PlanLine

ROOT = Path(__file__).resolve().parents[2]
WEATHER = {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                                            "unit": {"type": "string", "enum": ["c", "f"]}},
           "required": ["city"], "additionalProperties": False}


def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def openai_body(png: str) -> dict:
    return {"model": "gpt-4.1-mini", "max_completion_tokens": 200, "temperature": 0.2, "messages": [
        {"role": "system", "content": "You are a weather desk."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris? See the map."},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                    "parameters": WEATHER}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_schema", "json_schema": {"name": "report", "schema": {
            "type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}}}}


def _line(provider: str, body: dict, endpoint: str = "/v1/chat/completions") -> PlanLine:
    return PlanLine(1, "r1", "POST", endpoint, body, 0, provider=provider)


def _same(a, b):
    """Two works equal in what the APIs carry (ids given by a writer may differ from the source's)."""
    assert a.system == b.system and a.tools == b.tools and a.schema == b.schema
    assert (a.max_output, a.temperature, a.tool_choice) == (b.max_output, b.temperature, b.tool_choice)
    def view(work):
        return [(t.role, [(p.kind, p.text, p.media_type, p.data, p.name if p.kind == "tool_call" else "",
                           p.arguments) for p in t.parts]) for t in work.turns]

    assert view(a) == view(b)


@pytest.mark.parametrize("via, model", [("anthropic", "claude-haiku-4-5"), ("gemini", "gemini-2.5-flash")])
def test_a_chat_request_goes_to_another_provider_and_back_unchanged(via, model):
    source = providers.get("openai").to_work(_line("openai", openai_body(_png())))
    assert not source.lost
    endpoint, body = providers.get(via).from_work(source, model)
    there = providers.get(via).to_work(_line(via, {**body, "model": model}, endpoint))
    _same(source, there)
    _, back = providers.get("openai").from_work(there, "gpt-4.1-mini")
    again = providers.get("openai").to_work(_line("openai", back))
    _same(source, again)
    assert back["tools"][0]["function"]["parameters"] == WEATHER and back["tool_choice"] == "auto"


def test_convert_writes_a_plan_the_other_provider_takes_and_says_what_did_not_translate(cli, write_plan, tmp_path):
    png = _png()
    plan = write_plan([{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": openai_body(png)},
                       {"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": {
                           "model": "gpt-4.1-mini", "n": 2, "max_tokens": 20, "logprobs": True,
                           "messages": [{"role": "user", "content": "Two jokes."}]}}])
    for to, model, shape in (("anthropic", "claude-haiku-4-5", {"custom_id", "params"}),
                             ("gemini", "gemini-2.5-flash", {"key", "request"}), ("vertex", "gemini-2.5-flash",
                                                                                  {"request"})):
        out = tmp_path / f"{to}.jsonl"
        done = cli("convert", plan, "--to", to, "--model", model, "-o", out)
        assert done.returncode == 0, done.stderr
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert len(lines) == 2 and {frozenset(x) for x in lines} == {frozenset(shape)}
        assert "n > 1" in done.stderr and "body.logprobs" in done.stderr and "line 2" in done.stderr
        check = cli("check", out, "--model", model)
        assert check.returncode == 0, check.stdout + check.stderr
        count = cli("count", out, "--model", model, "--format", "jsonl")
        assert count.returncode == 0 and all(json.loads(x)["input_tokens"] > 0 for x in count.stdout.splitlines())
    assert cli("convert", plan, "--to", "anthropic", "--model", "claude-haiku-4-5", "-o", plan).returncode != 0
    assert json.loads(plan.read_text().splitlines()[0])["custom_id"] == "a"  # the input is never replaced
    unknown = cli("convert", plan, "--to", "nowhere", "--model", "x", "-o", tmp_path / "x.jsonl")
    assert unknown.returncode == 2 and not (tmp_path / "x.jsonl").exists()


def test_report_compares_models_of_other_providers_on_one_plan(cli, tmp_path):
    out = tmp_path / "report"
    done = cli("report", "examples/reviews_sentiment.jsonl", "--compare-models", "claude-haiku-4-5,gemini-2.5-flash",
               "--out", out)
    assert done.returncode == 0, done.stderr
    text = (out / "report.md").read_text()
    assert "| claude-haiku-4-5 | anthropic |" in text and "| gemini-2.5-flash | gemini |" in text
    assert "translated from openai" in text and "JSON mode" in text  # what Claude cannot carry is said
    assert "band" in text.split("| claude-haiku-4-5 |")[1].split("\n")[0]  # Claude's count is a band


def test_the_library_compares_across_providers_with_the_translated_counts():
    import batchcost

    result = batchcost.estimate("examples/reviews_sentiment.jsonl", compare_models=["claude-haiku-4-5"])
    other = result.compared["claude-haiku-4-5"]
    assert other.plan["provider"] == "anthropic" and other.plan["translated_from"] == "openai"
    assert other.input_tokens_range is not None and other.input_tokens > 0


def _real_pairs():
    spec = importlib.util.spec_from_file_location("batchcost_accuracy", ROOT / "tools" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["batchcost_accuracy"] = module
    spec.loader.exec_module(module)
    pairs, _ = module.load_pairs()
    return pairs


def test_every_real_request_translates_to_every_other_provider_and_counts():
    """On the real requests of tests/data/real_usage (agents, tools, history, images, schemas): translation never
    fails, and the translated request is one the other provider's counter reads."""
    from batchcost import count_request

    targets = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
    done = 0
    for pair in _real_pairs():
        if pair.provider not in targets or pair.endpoint not in ("/v1/chat/completions", "/v1/messages",
                                                                 "generateContent"):
            continue
        body = {**pair._body, "model": pair.model}
        work = providers.get(pair.provider).to_work(_line(pair.provider, body, pair.endpoint))
        for target, model in targets.items():
            if target == pair.provider:
                continue
            endpoint, translated = providers.get(target).from_work(work, model)
            count_request(translated, endpoint, model=model, provider=target)
            done += 1
    assert done > 2000


def test_estimate_compares_every_model_and_tier_and_picks_the_cheapest_in_time(cli, write_plan):
    """The support-email task: one plan, models of two providers, one table, the cheapest that meets a deadline."""
    rows = [{"custom_id": f"mail-{i}", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4.1-mini", "max_tokens": 5, "messages": [
            {"role": "system", "content": "Classify the support email: billing, bug, account or other. One word."},
            {"role": "user", "content": f"Hello, I was charged twice for order {i}. Please refund one."}]}}
        for i in range(20)]
    plan = write_plan(rows)
    out = cli("estimate", plan, "--compare-models", "claude-haiku-4-5", "--deadline", "24", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)["comparison"]
    seen = {(c["model"], c["tier"]) for c in doc["choices"]}
    assert {("gpt-4.1-mini", "batch"), ("gpt-4.1-mini", "realtime"), ("claude-haiku-4-5", "batch"),
            ("claude-haiku-4-5", "realtime")} <= seen
    costs = [float(c["expected"]) for c in doc["choices"]]
    assert costs == sorted(costs)
    claude = next(c for c in doc["choices"] if c["model"] == "claude-haiku-4-5")
    assert claude["provider"] == "anthropic" and claude["translated_from"] == "openai"
    assert claude["count_basis"].startswith("band")
    in_time = [c for c in doc["choices"] if c["meets_deadline"]]
    assert doc["cheapest"] == {k: in_time[0][k] for k in ("model", "provider", "tier")}
    assert all(c["tier"] != "flex" for c in in_time)  # flex promises no turnaround
    fast = json.loads(cli("estimate", plan, "--compare-models", "claude-haiku-4-5", "--deadline", "1", "--format",
                          "json").stdout)["comparison"]
    assert fast["cheapest"]["tier"] in ("realtime", "priority")  # batch's 24 hours miss a one-hour deadline
    table = cli("estimate", plan, "--compare-models", "claude-haiku-4-5", "--deadline", "24")
    assert table.returncode == 0 and "cheapest" in table.stdout and "anthropic" in table.stdout
    assert cli("estimate", plan, "--deadline", "24").returncode == 2  # a deadline needs models to choose among


def test_comparing_leaves_the_plans_own_estimate_as_asked(cli):
    """The comparison prices every tier on copies: the plan's own estimate keeps the tiers it was asked for."""
    alone = json.loads(cli("estimate", "examples/reviews_sentiment.jsonl", "--format", "json").stdout)
    compared = json.loads(cli("estimate", "examples/reviews_sentiment.jsonl", "--compare-models", "gpt-4.1-mini",
                              "--format", "json").stdout)
    assert list(compared["cost"]) == list(alone["cost"]) == ["realtime", "batch"]
    assert compared["warnings"] == alone["warnings"]
    assert {c["tier"] for c in compared["comparison"]["choices"]} >= {"realtime", "batch", "priority"}


def test_a_refused_conversion_writes_nothing(cli, write_plan, tmp_path):
    plan = write_plan([{"custom_id": "a", "params": {"model": "claude-haiku-4-5", "max_tokens": 9,
                                                     "messages": [{"role": "user", "content": "hi"}]}}])
    out = tmp_path / "same.jsonl"
    done = cli("convert", plan, "--to", "anthropic", "--model", "claude-haiku-4-5", "-o", out)
    assert done.returncode == 2 and "already" in done.stderr and not out.exists()


def test_plans_of_two_providers_are_one_comparison_one_report_and_each_can_be_approved(cli, tmp_path):
    """The email task written for two providers: `estimate a b` compares the two plans (not one job), `report a b`
    puts both in one report, and the one chosen is approved alone."""
    openai_plan = ROOT / "examples" / "compare" / "support_emails.jsonl"
    claude_plan = tmp_path / "emails_claude.jsonl"
    made = cli("convert", openai_plan, "--to", "anthropic", "--model", "claude-haiku-4-5", "-o", claude_plan)
    assert made.returncode == 0, made.stderr
    out = cli("estimate", openai_plan, claude_plan, "--deadline", "24", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [e["plan"]["provider"] for e in doc["estimates"]] == ["openai", "anthropic"]
    each = {e["plan"]["provider"]: e for e in doc["estimates"]}
    alone = json.loads(cli("estimate", claude_plan, "--format", "json").stdout)
    assert each["anthropic"]["cost"] == alone["cost"]  # each plan is estimated as it would be alone
    labels = {c["model"] for c in doc["comparison"]["choices"]}
    assert labels == {"gpt-4.1-mini (support_emails.jsonl)", "claude-haiku-4-5 (emails_claude.jsonl)"}
    cheapest = doc["comparison"]["cheapest"]
    assert cheapest["tier"] == "batch" and cheapest["model"] == doc["comparison"]["choices"][0]["model"]
    over = cli("estimate", openai_plan, claude_plan, "--budget", "0.00000001")
    assert over.returncode == 3 and "the cheapest choice" in over.stderr
    folder = tmp_path / "report"
    assert cli("report", openai_plan, claude_plan, "--out", folder).returncode == 0
    html = (folder / "report.html").read_text()
    assert "claude-haiku-4-5 (emails_claude.jsonl)" in html and "anthropic" in html
    approval = tmp_path / "approval.json"
    chosen = cli("approve", openai_plan, "--budget", "5", "--by", "Alice Example", "-o", approval)
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(approval.read_text())["plan"]["provider"] == "openai"
    job = cli("estimate", openai_plan, openai_plan)  # one provider's files stay one job (here: named twice)
    assert job.returncode == 2 and "named twice" in job.stderr
