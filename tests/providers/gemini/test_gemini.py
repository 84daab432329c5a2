"""Gemini API Batch Mode: plan lines read with the batch's model, text counted exactly with the shipped Gemma 3
vocabulary (checked against counts the API reported and against google-genai's own LocalTokenizer), prices,
check, templates, and reconcile of a results file exact to the Decimal."""
from __future__ import annotations

import hashlib
import json
import lzma
from decimal import Decimal

import pytest

from batchcost.pricing.tables import load_prices
from batchcost.tokens.encodings import token_counter, vocabulary


def gline(key, *texts, **request):
    roles = ["user", "model"]
    contents = [{"role": roles[i % 2], "parts": [{"text": t}]} for i, t in enumerate(texts)]
    return {"key": key, "request": {"contents": contents, **request}}


# geminibyexample.com/026-token-counting (Gemini 2.0 Flash, as the API answered): the chat history of two turns
# counted 24 tokens by countTokens, and the next request, with the third turn, was billed prompt_token_count=30.
CAT = ["Hey there! I love cats!", "Me too! Cats are the best. What's your favorite breed?",
       "Tell me more about Ragdoll cats."]


def test_the_shipped_vocabulary_is_the_recorded_one_and_a_tampered_copy_is_refused(tmp_path, monkeypatch):
    from batchcost.core.errors import EncodingError
    from batchcost.data import load_data
    from batchcost.tokens import encodings

    entry = load_data("encodings.yaml")["vocabularies"]["gemma3"]
    shipped = encodings.Path(encodings.__file__).resolve().parents[1] / "data" / entry["file"]
    data = lzma.decompress(shipped.read_bytes())
    assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) > 30_000_000
    assert vocabulary("gemma3").get_vocab_size(with_added_tokens=False) == 262_144
    bad = tmp_path / "gemma3.tokenizer.json.xz"
    bad.write_bytes(lzma.compress(data.replace(b'"<pad>"', b'"<pAd>"', 1)))
    fake = {**load_data("encodings.yaml"), "vocabularies": {"gemma3": {**entry, "file": str(bad)}}}
    monkeypatch.setattr(encodings, "load_data", lambda name: fake)
    encodings.vocabulary.cache_clear()
    try:
        with pytest.raises(EncodingError, match="sha256"):
            encodings.vocabulary("gemma3")
    finally:
        encodings.vocabulary.cache_clear()


def test_counts_equal_what_the_api_billed(write_plan, cli):
    plan = write_plan([gline("cat", *CAT)])
    out = cli("count", plan, "--model", "gemini-2.0-flash", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["input_tokens"] == 30 and record["count_basis"] == "tokenizer" and record["approximate"] is False
    assert record["custom_id"] == "cat" and record["provider"] == "gemini" and record["model"] == "gemini-2.0-flash"
    # countTokens answers one more per content than the bill counts: 24 for the first two turns (7 + 15 + 2), and
    # 10 for "What's the highest mountain in Africa?" (google-gemini/cookbook gemini-2.0 quickstart: 9 + 1)
    count = token_counter("gemma3")
    assert count(CAT[0]) + count(CAT[1]) + 2 == 24
    assert count("What's the highest mountain in Africa?") + 1 == 10


def _google_count(contents, config=None):
    """google-genai's own LocalTokenizer (what the SDK counts offline), given our shipped vocabulary instead of its
    run-time download."""
    import warnings

    from google.genai import local_tokenizer

    class Vocabulary:
        def encode(self, texts):
            return [vocabulary("gemma3").encode(t, add_special_tokens=False).ids for t in texts]

    tokenizer = local_tokenizer.LocalTokenizer.__new__(local_tokenizer.LocalTokenizer)
    tokenizer._tokenizer_name, tokenizer._model_proto, tokenizer._tokenizer = "gemma3", None, Vocabulary()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tokenizer.count_tokens(contents, config=config).total_tokens


WEATHER = {"name": "get_weather", "description": "Current weather for a city",
           "parameters": {"type": "OBJECT", "properties": {
               "city": {"type": "STRING", "description": "City and country, e.g. Paris, France"},
               "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"], "format": "enum"}},
               "required": ["city"]}}
SCHEMA = {"type": "OBJECT", "properties": {"sentiment": {"type": "STRING", "enum": ["positive", "negative"]},
                                           "reasons": {"type": "ARRAY", "items": {"type": "STRING",
                                                                                 "description": "one reason"}}},
          "required": ["sentiment"]}


TEXT_CASES = [
    ({"contents": [{"role": "user", "parts": [{"text": "Résumé: naïve café — 東京 🚀\n\n  indented\tcode()"}]}]}, None),
    ({"contents": [{"role": "user", "parts": [{"text": "Hi"}, {"text": "second part"}]}],
      "systemInstruction": {"parts": [{"text": "You are terse. Answer in one word."}]}},
     {"system_instruction": {"parts": [{"text": "You are terse. Answer in one word."}]}}),
    ({"contents": [{"role": "user", "parts": [{"text": "one"}]}, {"role": "model", "parts": [{"text": "two"}]},
                   {"role": "user", "parts": [{"text": "three"}]}]}, None),
]
TOOL_CASE = {"contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]},
                          {"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                                                                        "args": {"city": "Paris", "days": 3}}}]},
                          {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {
                              "forecast": [{"day": "Mon", "sky": "sunny"}], "unit": "celsius"}}}]}],
             "tools": [{"functionDeclarations": [WEATHER]}]}
SCHEMA_CASE = {"contents": [{"role": "user", "parts": [{"text": "Great product, fast delivery."}]}],
               "generationConfig": {"responseMimeType": "application/json", "responseSchema": SCHEMA,
                                    "maxOutputTokens": 50}}


def _ours(write_plan, cli, request_, model):
    plan = write_plan([{"key": "k", "request": request_}])
    out = cli("count", plan, "--model", model, "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("request_, config", TEXT_CASES)
def test_text_is_counted_as_googles_local_tokenizer_counts_it_plus_what_the_bill_adds(write_plan, cli, request_,
                                                                                        config):
    """Text is google-genai's LocalTokenizer count exactly; Gemini 2.5 and later bill a token more a content and
    (on most bills) one for systemInstruction (real bills, tests/data/real_usage)."""
    contents = [{"role": c.get("role", "user"), "parts": c["parts"]} for c in request_["contents"]]
    google = _google_count(contents, config)
    system = "systemInstruction" in request_
    for model, extra in (("gemini-2.0-flash", 0), ("gemini-2.5-flash", len(contents) + system)):
        ours = _ours(write_plan, cli, request_, model)
        assert ours["input_tokens"] == google + extra, model
        if system and extra:  # the system's token is on most bills, not all: a band down to none
            assert ours["count_basis"] == "approximation" and ours["input_tokens_low"] == google + extra - 1
        else:
            assert ours["count_basis"] == "tokenizer", model


def test_response_schema_is_not_billed_on_2_5_and_a_band_on_2_0(write_plan, cli):
    contents = SCHEMA_CASE["contents"]
    plain = _google_count(contents)
    newer = _ours(write_plan, cli, SCHEMA_CASE, "gemini-2.5-flash")
    assert newer["input_tokens"] == plain + 1 and newer["count_basis"] == "tokenizer"
    with_schema = _google_count(contents, {"generation_config": {"response_schema": SCHEMA}})
    older = _ours(write_plan, cli, SCHEMA_CASE, "gemini-2.0-flash")
    assert older["count_basis"] == "approximation"
    assert older["input_tokens_low"] == with_schema <= older["input_tokens"] < older["input_tokens_high"]


def test_function_declarations_add_the_gemini_apis_template_and_vertex_bills_none(write_plan, cli):
    contents = TOOL_CASE["contents"]
    google = _google_count(contents, {"tools": [{"function_declarations": [WEATHER]}]})
    gemini = _ours(write_plan, cli, TOOL_CASE, "gemini-2.5-flash")
    assert gemini["count_basis"] == "approximation"
    assert gemini["input_tokens_low"] <= gemini["input_tokens"] <= gemini["input_tokens_high"]
    assert gemini["input_tokens"] > google + len(contents)  # the template, fitted on real bills
    plan = write_plan([{"request": {**TOOL_CASE, "model": "gemini-2.5-flash"}}])
    vertex = json.loads(cli("count", plan, "--provider", "vertex", "--format", "jsonl").stdout)
    assert vertex["input_tokens"] < gemini["input_tokens"]


def test_estimate_prices_gemini_batch_and_the_output_bound(write_plan, cli):
    rows = [gline(f"r{i}", f"Summarize note {i} in a line.", generationConfig={"maxOutputTokens": 64})
            for i in range(3)]
    plan = write_plan(rows)
    doc = json.loads(cli("estimate", plan, "--model", "gemini-2.5-flash", "--format", "json").stdout)
    count = token_counter("gemma3")
    total = sum(count(f"Summarize note {i} in a line.") for i in range(3))
    total += 3  # one token a content on Gemini 2.5 (three requests of one content)
    assert doc["input_tokens"] == total and doc["plan"]["provider"] == "gemini" and "input_tokens_range" not in doc
    price = load_prices([]).lookup("gemini-2.5-flash")
    rates = price.rates("batch")
    assert Decimal(doc["cost"]["batch"]["high"]) == (total * rates.input + 192 * rates.output) / 10**6
    assert Decimal(doc["cost"]["realtime"]["high"]) == (total * price.rates("realtime").input
                                                       + 192 * price.rates("realtime").output) / 10**6


def test_a_line_without_a_model_is_one_clear_error_and_check_and_split_work(write_plan, cli, tmp_path):
    plan = write_plan([gline(f"r{i}", "hello") for i in range(5)] + [gline("r1", "again")])
    out = cli("estimate", plan)
    assert out.returncode == 1 and f"{plan}:1" in out.stderr and "--model" in out.stderr
    assert "Traceback" not in out.stderr
    out = cli("check", plan, "--model", "gemini-2.5-flash")
    assert out.returncode == 1 and "r1" in out.stdout + out.stderr and ":6" in out.stdout + out.stderr
    good = write_plan([gline(f"r{i}", "hello") for i in range(5)], name="good.jsonl")
    out = cli("split", good, "--max-requests", "2", "--out-dir", tmp_path / "waves", "--model", "gemini-2.5-flash")
    assert out.returncode == 0, out.stderr
    waves = sorted((tmp_path / "waves").glob("*.jsonl"))
    assert len(waves) == 3 and sum(len(w.read_text().splitlines()) for w in waves) == 5
    out = cli("count", good, "--model", "gpt-4o-mini")
    assert out.returncode != 0 and "not one of gemini's" in out.stderr


def test_check_names_the_key_the_output_bound_and_the_context_window_of_gemini_lines(write_plan, cli):
    plan = write_plan([gline("a", "hi"), gline("a", "hi again", generationConfig={"maxOutputTokens": 100_000}),
                       gline("b", "ok", generationConfig={"maxOutputTokens": 65_536}),
                       {"key": "e", "request": {"content": {"parts": [{"text": "word " * 3000}]}}}])
    out = cli("check", plan, "--model", "gemini-2.5-flash", "--format", "json")
    found = {(f["line"], f["code"]) for f in json.loads(out.stdout)["findings"]}
    assert out.returncode == 1 and (2, "duplicate-custom-id") in found and (2, "max-output") in found
    assert (4, "invalid-body") in found and not any(line == 3 for line, _ in found)  # 65,536 is the maximum
    assert "key 'a' was already used on line 1" in out.stdout
    embed = write_plan([{"key": "e", "request": {"content": {"parts": [{"text": "word " * 3000}]}}}], name="e.jsonl")
    out = cli("check", embed, "--model", "gemini-embedding-001")
    assert out.returncode == 1 and "2,048-token context window" in out.stdout


def test_templates_write_gemini_lines_and_estimate_the_same(cli, tmp_path):
    template = tmp_path / "gemini.yaml"
    template.write_text(
        "provider: gemini\nmodel: gemini-2.5-flash-lite\ncustom_id: 'review-{id}'\nbody:\n"
        "  systemInstruction: {parts: [{text: 'Classify the sentiment: positive, negative or neutral.'}]}\n"
        "  contents: [{role: user, parts: [{text: \"{text}\"}]}]\n"
        "  generationConfig: {maxOutputTokens: 5}\n")
    out_plan = tmp_path / "reviews-gemini.jsonl"
    made = cli("plan", "examples/reviews/reviews.csv", "--template", template, "-o", out_plan)
    assert made.returncode == 0, made.stderr
    rows = [json.loads(x) for x in out_plan.read_text().splitlines()]
    assert rows and set(rows[0]) == {"key", "request"} and "model" not in rows[0]["request"]
    direct = json.loads(cli("estimate", out_plan, "--model", "gemini-2.5-flash-lite", "--format", "json").stdout)
    through = json.loads(cli("estimate", "examples/reviews/reviews.csv", "--template", template,
                             "--format", "json").stdout)
    assert through["plan"]["sha256"] == direct["plan"]["sha256"] and through["cost"] == direct["cost"]
    assert through["plan"]["provider"] == "gemini"


def test_reconcile_gemini_results_exact_and_a_retry_file(write_plan, cli, tmp_path):
    rows = [gline(f"r{i}", f"Question {i}?", generationConfig={"maxOutputTokens": 100}) for i in range(3)]
    plan = write_plan(rows)
    count = token_counter("gemma3")
    results = tmp_path / "results.jsonl"
    usage = [{"promptTokenCount": count(f"Question {i}?"), "candidatesTokenCount": 20 + i,
              "thoughtsTokenCount": 7, "cachedContentTokenCount": 0, "totalTokenCount": 0} for i in range(2)]
    results.write_text(
        json.dumps({"key": "r0", "response": {"candidates": [{"content": {"parts": [{"text": "a"}]}}],
                                              "usageMetadata": usage[0]}}) + "\n"
        + json.dumps({"key": "r2", "error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}) + "\n"
        + json.dumps({"key": "r1", "response": {"usageMetadata": usage[1]}}) + "\n")
    retry = tmp_path / "retry.jsonl"
    out = cli("reconcile", plan, "--results", results, "--model", "gemini-2.5-flash", "--format", "json",
              "--retry-file", retry)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    rates = load_prices([]).lookup("gemini-2.5-flash").rates("batch")
    billed_in = usage[0]["promptTokenCount"] + usage[1]["promptTokenCount"]
    billed_out = (20 + 7) + (21 + 7)  # thinking is billed as output
    assert Decimal(doc["actual"]["cost"]) == (billed_in * rates.input + billed_out * rates.output) / 10**6
    assert doc["actual"]["input_tokens"] == billed_in and doc["actual"]["output_tokens"] == billed_out
    assert doc["requests"]["failed"] == 1
    again = [json.loads(x) for x in retry.read_text().splitlines()]
    assert [r["key"] for r in again] == ["r2"] and set(again[0]) == {"key", "request"}


# -- Vertex AI batch prediction --------------------------------------------------------------------------------
def vline(*texts, **request):
    return {"request": gline("", *texts, **request)["request"]}


def test_vertex_plans_count_check_and_reconcile_on_the_echoed_request(write_plan, cli, tmp_path):
    rows = [vline(f"Translate item {i} to French.", generationConfig={"maxOutputTokens": 40}) for i in range(3)]
    rows.append(rows[1])  # the same request twice: joined in order
    plan = write_plan(rows)
    out = cli("count", plan, "--model", "gemini-2.5-flash", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    records = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["custom_id"] for r in records] == [None] * 4 and {r["provider"] for r in records} == {"vertex"}
    count = token_counter("gemma3")
    texts = [count(f"Translate item {i} to French.") for i in (0, 1, 2, 1)]
    # the Gemini API's token a content, taken on Vertex too, where it is not measured: a band down to none
    assert [r["input_tokens"] for r in records] == [n + 1 for n in texts]
    assert [r["input_tokens_low"] for r in records] == texts
    assert {r["count_basis"] for r in records} == {"approximation"}
    assert cli("check", plan, "--model", "gemini-2.5-flash").returncode == 0
    # Vertex's predictions.jsonl: each line echoes its request (keys in another order here), in any order
    out_lines = []
    for n, i in enumerate((2, 1, 0, 1)):
        request = dict(reversed(list(rows[i]["request"].items())))
        usage = {"promptTokenCount": count(f"Translate item {i} to French."), "candidatesTokenCount": 10 + n,
                 "totalTokenCount": 0}
        out_lines.append({"status": "", "processed_time": "2026-12-01T10:00:00Z", "request": request,
                          "response": {"candidates": [], "usageMetadata": usage}})
    out_lines[3] = {"status": "Bad Request: 400 quota", "processed_time": "2026-12-01T10:00:00Z",
                    "request": rows[1]["request"]}
    results = tmp_path / "predictions.jsonl"
    results.write_text("".join(json.dumps(x) + "\n" for x in out_lines))
    retry = tmp_path / "retry.jsonl"
    out = cli("reconcile", plan, "--results", results, "--model", "gemini-2.5-flash", "--format", "json",
              "--retry-file", retry)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    rates = load_prices([]).lookup("gemini-2.5-flash").rates("batch")
    billed_in = sum(count(f"Translate item {i} to French.") for i in (2, 1, 0))
    assert Decimal(doc["actual"]["cost"]) == (billed_in * rates.input + (10 + 11 + 12) * rates.output) / 10**6
    assert doc["requests"]["failed"] == 1 and any("order" in e for e in doc["explanations"])
    assert [json.loads(x) for x in retry.read_text().splitlines()] == [rows[1]]
    foreign = tmp_path / "other.jsonl"
    foreign.write_text(json.dumps({"status": "", "request": vline("unrelated")["request"],
                                   "response": {"usageMetadata": {"promptTokenCount": 2}}}) + "\n")
    out = cli("reconcile", plan, "--results", foreign, "--model", "gemini-2.5-flash")
    assert out.returncode == 1 and "another plan" in out.stderr


def test_an_exact_count_that_misses_is_reported_beside_approximate_ones(write_plan, cli, tmp_path):
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (100, 100)).save(buf, format="PNG")
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(buf.getvalue()).decode()}}
    rows = [gline("text", "Describe the weather."),
            {"key": "pic", "request": {"contents": [{"role": "user", "parts": [{"text": "What is this?"}, image]}]}}]
    plan = write_plan(rows)
    count = token_counter("gemma3")
    records = [json.loads(x) for x in cli("count", plan, "--model", "gemini-2.5-flash", "--format",
                                          "jsonl").stdout.splitlines()]
    assert records[1]["input_tokens"] == count("What is this?") + 258 + 1 and records[1]["approximate"] is True
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps({"key": k, "response": {"usageMetadata": {
        "promptTokenCount": n, "candidatesTokenCount": 3}}}) + "\n"
        for k, n in (("text", count("Describe the weather.") + 2), ("pic", records[1]["input_tokens"]))))
    out = cli("reconcile", plan, "--results", results, "--model", "gemini-2.5-flash", "--format", "json")
    assert out.returncode == 0, out.stderr
    explanations = json.loads(out.stdout)["explanations"]
    assert any("approximate counts" in e for e in explanations)
    assert any("INPUT COUNT MISMATCH on 1 request" in e and "first: text" in e for e in explanations)


def test_plan_in_parts_and_with_split_for_gemini_and_vertex_templates(cli, tmp_path):
    for provider, shape in (("gemini", {"key", "request"}), ("vertex", {"request"})):
        template = tmp_path / f"{provider}.yaml"
        template.write_text(f"provider: {provider}\nmodel: gemini-2.5-flash\ncustom_id: 'r-{{id}}'\nbody:\n"
                            "  contents: [{role: user, parts: [{text: \"{text}\"}]}]\n")
        serial = tmp_path / f"{provider}-serial.jsonl"
        assert cli("plan", "examples/reviews/reviews.csv", "--template", template, "-o", serial).returncode == 0
        parts = tmp_path / f"{provider}-parts.jsonl"
        out = cli("plan", "examples/reviews/reviews.csv", "--template", template, "-o", parts, "--jobs", "2")
        assert out.returncode == 0, out.stderr
        assert parts.read_bytes() == serial.read_bytes()
        assert {frozenset(json.loads(x)) for x in serial.read_text().splitlines()} == {frozenset(shape)}
        waves = tmp_path / f"{provider}-waves" / "plan.jsonl"
        waves.parent.mkdir()
        out = cli("plan", "examples/reviews/reviews.csv", "--template", template, "-o", waves, "--split")
        assert out.returncode == 0, out.stderr
        written = sorted(waves.parent.glob("*.jsonl"))
        assert written and b"".join(w.read_bytes() for w in written) == serial.read_bytes()


def test_vertex_reconcile_joins_on_the_parsed_request_as_vertex_reserialises_it(write_plan, cli, tmp_path):
    """Real predictions.jsonl echo the request re-serialised: 1.0 as 1, snake_case keys in camelCase, keys reordered;
    the join is on the parsed request, so the results are this plan's."""
    rows = [{"request": {"contents": [{"role": "user", "parts": [{"text": f"Rate item {i}."}]}],
                         "generation_config": {"temperature": 1.0, "max_output_tokens": 20, "top_p": 0.5}}}
            for i in range(2)]
    plan = write_plan(rows)
    echoed = []
    for i in (1, 0):
        request = {"generationConfig": {"topP": 0.5, "maxOutputTokens": 20, "temperature": 1},
                   "contents": [{"parts": [{"text": f"Rate item {i}."}], "role": "user"}]}
        echoed.append({"status": "", "request": request,
                       "response": {"usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 3}}})
    results = tmp_path / "predictions.jsonl"
    results.write_text("".join(json.dumps(x) + "\n" for x in echoed))
    out = cli("reconcile", plan, "--results", results, "--model", "gemini-2.5-flash", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["actual"]["input_tokens"] == 12 and doc["requests"]["failed"] == 0
