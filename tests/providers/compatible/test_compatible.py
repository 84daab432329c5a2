"""The OpenAI-compatible batch APIs (Groq, Together, Mistral, Fireworks, DeepInfra, Alibaba, xAI): lines told by
their models, counted with each model's own template and vocabulary (the bills they match are in
tests/providers/test_real_usage.py), priced with each service's batch rule, checked against its limits, and driven
through approve -> submit -> wait -> download -> reconcile against aimock with the service's base URL and key."""
from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from batchcost import count_request, providers
from batchcost.data import load_data
from batchcost.providers.compatible import catalog
from tests.conftest import PLANTED_KEY, ledger_rows

GROQ_DOCS_LINE = {"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions",  # console.groq.com/docs
                  "body": {"model": "llama-3.1-8b-instant",
                           "messages": [{"role": "system", "content": "You are a helpful assistant."},
                                        {"role": "user", "content": "What is 2+2?"}]}}
TOGETHER_DOCS_LINE = {"custom_id": "request-1",  # docs.together.ai batch inference
                      "body": {"model": "deepseek-ai/DeepSeek-V3",
                               "messages": [{"role": "user", "content": "Hello, world!"}], "max_tokens": 200}}
CHEESE = [{"role": "user", "content": "What is the best French cheese?"}]
MISTRAL_DOCS_LINE = {"custom_id": "0", "body": {"max_tokens": 100, "messages": CHEESE}}  # docs.mistral.ai batch


def records(out) -> list[dict]:
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


# -- the catalogue ---------------------------------------------------------------------------------------------
def test_every_model_belongs_to_one_service_and_every_vocabulary_is_shipped():
    seen: dict[str, str] = {}
    for service in catalog.services().values():
        for model, entry in service.models.items():
            assert model not in seen, f"{model} is named by {seen.get(model)} and {service.name}"
            seen[model] = service.name
            if entry.get("template"):
                spec = catalog.template(entry["template"])
                assert spec.get("mistral_common") or spec["vocabulary"] in load_data("encodings.yaml")["vocabularies"]
    assert set(providers.names()) >= set(catalog.services())


def test_the_shipped_vocabularies_are_the_models_own(tmp_path):
    from batchcost.tokens.encodings import vocabulary

    sizes = {"llama3": 128_256, "qwen3": 151_669, "deepseek_v3": 128_815}
    for name, size in sizes.items():
        tokenizer = vocabulary(name)
        assert tokenizer.get_vocab_size(with_added_tokens=True) == size
    # the special tokens of each template are single tokens of its vocabulary, as the servers read them
    for name in ("llama3_1", "qwen", "deepseek_v3"):
        spec = catalog.template(name)
        encode = vocabulary(spec["vocabulary"]).encode
        for piece in (spec.get("begin"), spec.get("generation")):
            if piece:
                special = piece.split(">")[0] + ">" if piece.startswith("<|") else piece[:piece.index("｜>") + 2] \
                    if "｜>" in piece else None
                if special:
                    assert len(encode(special, add_special_tokens=False).ids) == 1, (name, special)


# -- reading and counting -----------------------------------------------------------------------------------------
def test_lines_are_told_by_their_models(cli, write_plan):
    plan = write_plan([GROQ_DOCS_LINE, {**GROQ_DOCS_LINE, "custom_id": "request-2"}], "groq.jsonl")
    [one, two] = records(cli("count", plan, "--format", "jsonl"))
    assert one["provider"] == "groq" and one["count_basis"] == "approximation"  # Llama 3.1's date block: a band
    assert one["input_tokens_low"] <= one["input_tokens"] <= one["input_tokens_high"]
    together = write_plan([TOGETHER_DOCS_LINE], "together.jsonl")
    [line] = records(cli("count", together, "--format", "jsonl"))
    assert line["provider"] == "together" and line["model"] == "deepseek-ai/DeepSeek-V3"
    assert line["max_output_tokens"] == 200


def test_the_llama_template_counts_what_groq_billed_and_grows_by_what_is_added():
    # tests/data/real_usage: Groq billed 18 prompt tokens for this request, twelve times
    body = {"model": "llama3-8b-8192", "messages": [{"role": "user", "content": "Tell me a joke about opentelemetry"}]}
    counted = count_request(body)
    assert counted.input_tokens == 18 and counted.basis == "tokenizer"
    longer = {**body, "messages": [{"role": "system", "content": "Be brief."}, *body["messages"]]}
    from batchcost.tokens.encodings import vocabulary

    # a message is its header (start, role, end, blank line), its text and end of turn
    grown = count_request(longer).input_tokens - 18
    assert grown == 5 + len(vocabulary("llama3").encode("Be brief.", add_special_tokens=False).ids)


def test_a_line_without_a_model_takes_the_jobs_model(cli, write_plan):
    plan = write_plan([MISTRAL_DOCS_LINE], "mistral.jsonl")
    refused = cli("count", plan, "--provider", "mistral")
    assert refused.returncode == 1 and "give --model" in refused.stderr and "Traceback" not in refused.stderr
    unsaid = cli("count", plan)
    assert unsaid.returncode == 1 and "--provider" in unsaid.stderr and "mistral" in unsaid.stderr
    [line] = records(cli("count", plan, "--provider", "mistral", "--model", "mistral-small-latest", "--format",
                         "jsonl"))
    assert line["provider"] == "mistral" and line["max_output_tokens"] == 100
    assert line["input_tokens_low"] <= line["input_tokens"] <= line["input_tokens_high"]


def test_mistral_embeddings_are_exact_with_mistral_common_and_a_band_without(monkeypatch):
    body = {"model": "mistral-embed", "input": ["Tell me a joke about OpenTelemetry", "Tell me a joke about Traceloop"]}
    exact = count_request(body, "/v1/embeddings", provider="mistral")
    assert exact.input_tokens == 21 and exact.basis == "tokenizer"  # what Mistral billed (tests/data/real_usage)
    monkeypatch.setitem(sys.modules, "mistral_common", None)  # not installed
    monkeypatch.setitem(sys.modules, "mistral_common.tokens.tokenizers.mistral", None)
    banded = count_request(body, "/v1/embeddings", provider="mistral")
    assert banded.basis == "approximation" and banded.low <= 21 <= banded.high


def test_a_published_model_outside_the_catalogue_is_a_band_and_a_typo_is_refused(cli, write_plan):
    line = {**GROQ_DOCS_LINE, "body": {**GROQ_DOCS_LINE["body"], "model": "openai/gpt-oss-20b"}}
    [counted] = records(cli("count", write_plan([line]), "--provider", "groq", "--format", "jsonl"))
    assert counted["count_basis"] == "approximation" and "proxy vocabulary" in counted["notes"][0]
    typo = {**GROQ_DOCS_LINE, "body": {**GROQ_DOCS_LINE["body"], "model": "llama-3.1-8b-instantt"}}
    out = cli("count", write_plan([typo], "typo.jsonl"), "--provider", "groq")
    assert out.returncode == 1 and "unknown model" in out.stderr


def test_a_plan_of_two_services_is_refused_at_the_line(cli, write_plan):
    plan = write_plan([GROQ_DOCS_LINE, {**TOGETHER_DOCS_LINE, "custom_id": "x"}], "mixed.jsonl")
    out = cli("count", plan)
    assert out.returncode == 1 and "mixed.jsonl:2" in out.stderr and "one provider" in out.stderr


# -- prices and checks ------------------------------------------------------------------------------------------
def test_each_service_is_priced_by_its_own_batch_rule(cli, write_plan):
    out = cli("estimate", write_plan([GROQ_DOCS_LINE]), "--format", "json", "--output-tokens", "100")
    result = json.loads(out.stdout)
    assert out.returncode == 0 and result["plan"]["provider"] == "groq"
    real, batch = (Decimal(result["cost"][t]["expected"]) for t in ("realtime", "batch"))
    assert batch == real / 2 and any("groq's rule" in w for w in result["warnings"])
    grok = {**GROQ_DOCS_LINE, "body": {**GROQ_DOCS_LINE["body"], "model": "grok-4.3"}}
    out = cli("estimate", write_plan([grok], "grok.jsonl"), "--format", "json", "--output-tokens", "100")
    result = json.loads(out.stdout)
    assert result["plan"]["provider"] == "xai"
    real, batch = (Decimal(result["cost"][t]["expected"]) for t in ("realtime", "batch"))
    assert batch == real * Decimal("0.8")  # the database's own xAI batch figure: 20% off


def test_together_has_no_batch_price_without_one_per_model(cli, write_plan, tmp_path):
    llama = "meta-llama/Llama-3.3-70B-Instruct-Turbo"  # the database has its standard price, not a batch one
    plan = write_plan([{**TOGETHER_DOCS_LINE, "body": {**TOGETHER_DOCS_LINE["body"], "model": llama}}])
    out = cli("estimate", plan)
    assert out.returncode == 1 and "not offered at the batch tier" in out.stderr and "--prices" in out.stderr
    prices = tmp_path / "together.yaml"
    prices.write_text("currency: USD\nsource: https://www.together.ai/pricing (a test's figures)\n"
                      f"checked_on: 2026-12-01\nprovider: together\nmodels:\n  {llama}:\n"
                      "    input: 0.88\n    output: 0.88\n    batch: {input: 0.625, output: 0.625}\n")
    priced = json.loads(cli("estimate", plan, "--prices", prices, "--format", "json").stdout)
    high_input = priced["input_tokens_range"]["high"]  # a band (Llama 3.3's date block): the cost's high takes its high
    assert priced["cost"]["batch"]["high"] == str(Decimal("0.625") * (high_input + 200) / 10**6)


def test_check_holds_a_service_to_its_own_endpoints_and_limits(cli, write_plan):
    embed = {**GROQ_DOCS_LINE, "url": "/v1/embeddings"}
    out = cli("check", write_plan([GROQ_DOCS_LINE, {**embed, "custom_id": "e"}]))
    assert out.returncode == 1 and "not one groq batches" in out.stdout + out.stderr
    assert providers.get("together").limits().max_bytes == 100 * 1024 * 1024  # Together's 100 MB, not OpenAI's


def test_convert_writes_each_services_own_line(cli, tmp_path):
    source = Path("examples/compare/support_emails.jsonl")
    groq = tmp_path / "groq.jsonl"
    assert cli("convert", source, "--to", "groq", "--model", "llama-3.3-70b-versatile", "-o", groq).returncode == 0
    first = json.loads(groq.read_text().splitlines()[0])
    assert first["url"] == "/v1/chat/completions" and first["body"]["model"] == "llama-3.3-70b-versatile"
    mistral = tmp_path / "mistral.jsonl"
    out = cli("convert", source, "--to", "mistral", "--model", "mistral-small-latest", "-o", mistral)
    assert out.returncode == 0, out.stderr
    line = json.loads(mistral.read_text().splitlines()[0])
    assert set(line) == {"custom_id", "body"} and "model" not in line["body"]  # the job names the model
    counted = cli("count", mistral, "--provider", "mistral", "--model", "mistral-small-latest", "--format", "jsonl")
    assert len(records(counted)) == len(source.read_text().splitlines())


def test_compare_models_across_services_in_one_table(cli):
    out = cli("estimate", "examples/compare/support_emails.jsonl", "--compare-models",
              "llama-3.1-8b-instant,claude-haiku-4-5,meta-llama/Llama-3.3-70B-Instruct-Turbo", "--format", "json")
    assert out.returncode == 0, out.stderr
    comparison = json.loads(out.stdout)["comparison"]
    providers_seen = {c["provider"] for c in comparison["choices"]}
    assert {"openai", "groq", "anthropic"} <= providers_seen
    assert any("Llama-3.3-70B-Instruct-Turbo: not compared" in w for w in comparison["warnings"])


# -- submission against aimock ------------------------------------------------------------------------------------
def _as(model: str) -> dict:
    return {**GROQ_DOCS_LINE, "body": {**GROQ_DOCS_LINE["body"], "model": model}}


@pytest.mark.parametrize("service, line", [("groq", GROQ_DOCS_LINE), ("xai", _as("grok-4.3")),
                                           ("deepinfra", _as("meta-llama/Llama-3.3-70B-Instruct"))])
def test_a_service_is_submitted_through_its_own_base_url_and_key(aimock, cli, write_plan, tmp_path, monkeypatch,
                                                                 service, line):
    spec = catalog.services()[service]
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    plan = write_plan([{**line, "custom_id": f"r{i}", "body": {**line["body"], "max_tokens": 50}} for i in range(3)])
    approval = tmp_path / "approval.json"
    prices = tmp_path / "prices.yaml"  # DeepInfra is not in the price database: a price file says its prices
    prices.write_text("currency: USD\nsource: a test\nchecked_on: 2026-12-01\nmodels:\n"
                      f"  {line['body']['model']}:\n    input: 1\n    output: 1\n"
                      "    batch: {input: 0.8, output: 0.8}\n")
    extra = ["--prices", str(prices)] if service == "deepinfra" else []
    assert cli("approve", plan, "--budget", "1", "--by", "Alice", "-o", approval, *extra).returncode == 0
    unkeyed = cli("submit", plan, "--approval", approval)
    assert unkeyed.returncode == 2 and spec.env_key in unkeyed.stderr
    monkeypatch.setenv(spec.env_key, PLANTED_KEY)
    monkeypatch.setenv(spec.base_url_env, aimock.base_url)
    sub = cli("submit", plan, "--approval", approval, "--format", "json", *extra)
    assert sub.returncode == 0, sub.stderr
    [wave] = json.loads(sub.stdout)["batches"]
    [row] = ledger_rows("SELECT * FROM submissions")
    assert row["provider"] == service and row["base_url"] == aimock.base_url
    [upload] = aimock.calls("POST", "/v1/files")
    assert spec.purpose in json.dumps(upload)
    waited = cli("wait", wave["id"], "--poll-interval", "0.05", "--format", "json")  # no --provider: the ledger's
    assert waited.returncode == 0 and json.loads(waited.stdout)["status"] == "completed", waited.stderr
    got = cli("download", wave["id"], "--out", tmp_path / "out", "--format", "json")
    output = next(Path(f["path"]) for f in json.loads(got.stdout) if f["kind"] == "output")
    rec = cli("reconcile", plan, "--results", output, "--format", "json", *extra)
    assert rec.returncode == 0, rec.stderr
    assert json.loads(rec.stdout)["requests"]["succeeded"] == 3
    assert PLANTED_KEY not in sub.stdout + sub.stderr + waited.stdout + got.stdout + rec.stdout


@pytest.mark.parametrize("service", ["mistral", "together"])
def test_services_whose_jobs_are_their_own_are_refused_before_anything_is_sent(aimock, cli, write_plan, tmp_path,
                                                                                service):
    plan = write_plan([MISTRAL_DOCS_LINE])
    approval = tmp_path / "approval.json"
    model = {"mistral": "mistral-small-latest", "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo"}[service]
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"currency: USD\nsource: a test\nchecked_on: 2026-12-01\nmodels:\n  {model}:\n    input: 1\n"
                      "    output: 1\n    batch: {input: 0.5, output: 0.5}\n")
    reading = ["--provider", service, "--model", model, "--prices", prices]
    made = cli("approve", plan, *reading, "--budget", "1", "--by", "Alice", "-o", approval)
    assert made.returncode == 0, made.stderr
    out = cli("submit", plan, *reading, "--approval", approval)
    assert out.returncode == 2 and "does not submit" in out.stderr and "reconciles" in out.stderr
    assert aimock.journal() == []
