"""The Batch API's /v1/moderations endpoint: every model name the openai SDK lists is known, a moderation bills
nothing (a stated $0, never a missing price), check judges its input parts, reconcile reads its answers (which carry
no usage), and every endpoint that takes only one kind of model refuses the others."""
from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from batchcost.tokens.models import resolve_model

MOD = "/v1/moderations"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "moderations" / "comments.jsonl"


def line(i, body, url=MOD):
    return {"custom_id": f"m-{i}", "method": "POST", "url": url, "body": body}


def test_every_moderation_model_the_sdk_names_is_a_moderation_model():
    from openai.types import ModerationModel

    names = typing.get_args(ModerationModel)
    assert "omni-moderation-latest" in names
    for name in names:
        assert resolve_model(name).kind == "moderation", name


def test_the_bundled_example_passes_check_and_costs_exactly_nothing(cli):
    checked = cli("check", EXAMPLE)
    assert checked.returncode == 0 and f"{EXAMPLE}: ok" in checked.stdout + checked.stderr
    out = cli("estimate", EXAMPLE, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["plan"]["requests"] == 4 and doc["input_tokens"] == 0
    assert doc["cost"] == {tier: {"low": "0", "expected": "0", "high": "0"} for tier in ("realtime", "batch")}
    assert any("a moderation model is free" in w for w in doc["warnings"]), doc["warnings"]


def test_a_moderation_model_has_a_stated_zero_price_not_a_missing_one():
    from batchcost.pricing import load_prices

    price = load_prices().lookup("omni-moderation-2024-09-26")  # a dated snapshot finds its family
    rates = price.rates("batch")
    assert rates.input == 0 and rates.output == 0


@pytest.mark.parametrize("body, rule, words", [
    ({"model": "omni-moderation-latest", "input": [{"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}]},
     "image-url", "ftp URL"),
    ({"model": "omni-moderation-latest", "input": [{"type": "input_audio", "input_audio": {}}]},
     "invalid-body", "text or image_url part, not 'input_audio'"),
    ({"model": "omni-moderation-latest", "input": [{"type": "text", "text": 7}]},
     "invalid-body", "input[0].text must be a string"),
    ({"model": "omni-moderation-latest"}, "invalid-body", "body.input is missing"),
    ({"model": "omni-moderation-latest", "input": 5}, "invalid-body", "body.input must be a string or a list"),
    ({"model": "omni-moderation-latest", "input": "x", "stream": True}, "stream", "stream: true"),
    ({"model": "gpt-4o-mini", "input": "x"}, "invalid-body", "/v1/moderations needs a moderation model"),
])
def test_check_refuses_what_the_endpoint_would(cli, write_plan, body, rule, words):
    out = cli("check", write_plan([line(1, body)]), "--format", "json")
    assert out.returncode == 1
    findings = [f for f in json.loads(out.stdout)["findings"] if f["severity"] == "error"]
    assert [f["rule"] for f in findings] == [rule], findings
    assert words in findings[0]["message"] and findings[0]["scope"] == "request"


def test_an_unknown_moderation_parameter_is_only_a_warning(cli, write_plan):
    out = cli("check", write_plan([line(1, {"model": "omni-moderation-latest", "input": "x", "threshold": 0.5})]),
              "--format", "json")
    assert out.returncode == 0, out.stdout
    (finding,) = json.loads(out.stdout)["findings"]
    assert finding["severity"] == "warning" and "'threshold'" in finding["message"]


@pytest.mark.parametrize("url, body, words", [
    ("/v1/chat/completions", {"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "x"}]},
     "text-embedding-3-small is an embedding model: its requests go to /v1/embeddings"),
    ("/v1/responses", {"model": "omni-moderation-latest", "input": "x"},
     "is a moderation model: its requests go to /v1/moderations, not /v1/responses"),
    ("/v1/embeddings", {"model": "gpt-4o", "input": "x"},
     "/v1/embeddings needs an embedding model; gpt-4o is a chat model"),
])
def test_an_endpoint_refuses_another_kind_of_model(cli, write_plan, url, body, words):
    out = cli("check", write_plan([line(1, body, url)]))
    assert out.returncode == 1 and words in out.stdout, out.stdout


def test_a_model_outside_the_registry_may_be_an_embedding_model(cli, write_plan):
    """--encoding counts a private model: nothing is known of its kind, so no endpoint refuses it."""
    plan = write_plan([line(1, {"model": "acme-embed-v2", "input": ["a b c"]}, "/v1/embeddings")])
    out = cli("count", plan, "--encoding", "cl100k_base", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[0])["input_tokens"] == 3


def _answer(cid, flagged=False):
    """A result line whose body is the API reference's moderation object, checked against the SDK's type."""
    from openai.types import ModerationCreateResponse
    from openai.types.moderation import Categories

    names = [f.alias or n for n, f in Categories.model_fields.items()]
    body = {"id": f"modr-{cid}", "model": "omni-moderation-latest",
            "results": [{"flagged": flagged, "categories": {k: flagged and k == "harassment" for k in names},
                         "category_scores": {k: 0.91 if flagged and k == "harassment" else 0.0001 for k in names},
                         "category_applied_input_types": {k: ["text"] for k in names}}]}
    ModerationCreateResponse.model_validate(body)
    return {"id": f"batch_req_{cid}", "custom_id": cid, "error": None,
            "response": {"status_code": 200, "request_id": f"req_{cid}", "body": body}}


def test_reconcile_reads_moderation_answers_which_report_no_usage(cli, tmp_path):
    results = tmp_path / "out.jsonl"
    ids = [json.loads(raw)["custom_id"] for raw in EXAMPLE.read_text().splitlines()]
    results.write_text("".join(json.dumps(_answer(cid, flagged=i == 1)) + "\n" for i, cid in enumerate(ids)))
    out = cli("reconcile", EXAMPLE, "--results", results, "--no-calibrate", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["requests"]["succeeded"] == 4 and doc["issues"] == []
    assert not any("MISMATCH" in e for e in doc["explanations"]), doc["explanations"]
    assert doc["actual"]["input_tokens"] == 0 and doc["delta"]["cost_percent"] is None
    table = cli("reconcile", EXAMPLE, "--results", results, "--no-calibrate")
    assert "None%" not in table.stdout and "$0.00" in table.stdout
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({**_answer(ids[0]), "response": {"status_code": 200, "body": {"id": "modr-x"}}})
                      + "\n")
    bad = cli("reconcile", EXAMPLE, "--results", broken, "--no-calibrate")
    assert bad.returncode == 1 and "without a results list" in bad.stderr
