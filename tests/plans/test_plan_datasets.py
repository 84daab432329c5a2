"""`batchcost plan`: every dataset kind, tricky text, chunking round-trips, and clear errors."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchcost.core.errors import BadInput
from batchcost.plans.build import build_plan
from batchcost.plans.templates import TemplateError, chunk_spans
from batchcost.tokens.encodings import get_encoding

TRICKY = [
    'comma, "quoted", and \\backslash',
    "line one\nline two\r\nline three",
    "emoji 😀👍🏽 and zero-width joiner 👩‍👩‍👧",
    "RTL: مرحبا بالعالم — שלום עולם",
    '{"looks": "like json", "n": [1, 2]}',
    "braces {id} {{not}} and }{ stray",
    "tab\there",
]
CHAT_TEMPLATE = """\
endpoint: /v1/chat/completions
model: gpt-4o-mini
custom_id: "item-{id}"
body:
  messages:
    - {role: system, content: "Answer {{briefly}}."}
    - {role: user, content: "{text}"}
  max_tokens: 16
"""


@pytest.fixture
def template(tmp_path):
    def write(text=CHAT_TEMPLATE, name="t.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def _records():
    return [{"id": str(i + 1), "text": t} for i, t in enumerate(TRICKY)]


def _write_dataset(tmp_path, kind):
    frame = pd.DataFrame(_records())
    path = tmp_path / f"data.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _records()), encoding="utf-8")
    elif kind == "json":
        path.write_text(json.dumps(_records(), ensure_ascii=False), encoding="utf-8")
    elif kind == "parquet":
        frame.to_parquet(path)
    return path


def _plan_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "json", "parquet"])
def test_every_dataset_kind_keeps_text_exactly(tmp_path, template, kind):
    data = _write_dataset(tmp_path, kind)
    out = tmp_path / "plan.jsonl"
    built = build_plan(data, template(), out)
    assert built.requests == len(TRICKY) and built.paths == [out]
    lines = _plan_lines(out)
    assert [line["custom_id"] for line in lines] == [f"item-{i + 1}" for i in range(len(TRICKY))]
    assert [line["body"]["messages"][1]["content"] for line in lines] == TRICKY
    assert lines[0]["body"]["messages"][0]["content"] == "Answer {briefly}."
    assert all(line["body"]["model"] == "gpt-4o-mini" and line["method"] == "POST" for line in lines)


def test_parquet_folder(tmp_path, template):
    folder = tmp_path / "parts"
    folder.mkdir()
    records = _records()
    pd.DataFrame(records[:3]).to_parquet(folder / "a.parquet")
    pd.DataFrame(records[3:]).to_parquet(folder / "b.parquet")
    built = build_plan(folder, template(), tmp_path / "p.jsonl")
    assert built.requests == len(TRICKY)


def test_document_folder(tmp_path, template):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# Title\n\nBody text.", encoding="utf-8")
    (docs / "sub" / "b.txt").write_text(TRICKY[2], encoding="utf-8")
    (docs / "ignored.bin").write_bytes(b"\x00\x01")
    t = template('endpoint: /v1/embeddings\nmodel: text-embedding-3-small\ncustom_id: "{path}"\n'
                 'body: {input: "{name}: {text}"}\n', "e.yaml")
    out = tmp_path / "e.jsonl"
    build_plan(docs, t, out)
    lines = _plan_lines(out)
    assert [line["custom_id"] for line in lines] == ["a.md", "sub/b.txt"]
    assert lines[1]["body"]["input"] == f"b: {TRICKY[2]}"


def test_model_override_and_default_custom_id(tmp_path, template):
    data = _write_dataset(tmp_path, "csv")
    t = template(CHAT_TEMPLATE.replace('custom_id: "item-{id}"\n', ""), "noid.yaml")
    out = tmp_path / "p.jsonl"
    build_plan(data, t, out, model="gpt-4.1-nano")
    lines = _plan_lines(out)
    assert lines[0]["custom_id"] == "row-1" and lines[0]["body"]["model"] == "gpt-4.1-nano"


def test_estimate_from_dataset_matches_written_plan(tmp_path, template, cli):
    data = _write_dataset(tmp_path, "csv")
    out = tmp_path / "p.jsonl"
    assert cli("plan", data, "--template", template(), "-o", out).returncode == 0
    from_plan = json.loads(cli("estimate", out, "-f", "json").stdout)
    from_data = json.loads(cli("estimate", data, "--template", template(), "-f", "json").stdout)
    assert from_data["plan"]["sha256"] == from_plan["plan"]["sha256"]
    assert from_data["cost"] == from_plan["cost"] and from_data["input_tokens"] == from_plan["input_tokens"]


@pytest.mark.parametrize("text, line, message", [
    ("", None, "empty"),
    ("endpoint: /v1/chat/completions\nmodel: gpt-4o\nbody:\n  messages:\n    - {role: user, content: \"{txt}\"}\n",
     5, "placeholder {txt} names no field"),
    ("endpoint: /v1/chat/completions\nmodel: gpt-4o\nbody:\n  messages:\n    - {role: user, content: \"{text\"}\n",
     5, "unbalanced"),
    ("endpoint: /v1/images\nmodel: gpt-4o\nbody: {prompt: x}\n", 1, "not a batch endpoint"),
    ("endpoint: /v1/chat/completions\nbody: {messages: []}\n", None, "model is missing"),
    ("endpoint: /v1/chat/completions\nmodel: gpt-4o\ncustom_id: fixed\nbody: {messages: []}\n", 3,
     "custom_id must contain a placeholder"),
    ("endpoint: /v1/chat/completions\nmodel: gpt-4o\nbody: {messages: [{role: user, content: x}]}\n"
     "chunk: {max_tokens: 100}\n", 4, "embeddings templates only"),
])
def test_template_errors_name_the_template_line(tmp_path, template, text, line, message):
    data = _write_dataset(tmp_path, "csv")
    path = template(text)
    with pytest.raises(TemplateError, match=message) as info:
        build_plan(data, path, tmp_path / "p.jsonl")
    assert info.value.path == str(path) and info.value.line == line
    assert not (tmp_path / "p.jsonl").exists()


def test_duplicate_custom_ids(tmp_path, template, cli):
    data = tmp_path / "dup.csv"
    data.write_text("id,text\n1,a\n2,b\n1,c\n")
    out = cli("plan", data, "--template", template(), "-o", tmp_path / "p.jsonl")
    assert out.returncode == 1 and "custom_id 'item-1'" in out.stderr and "row 3" in out.stderr
    assert not (tmp_path / "p.jsonl").exists()
    assert not list(tmp_path.glob(".p.jsonl.*"))  # no partial file left behind


def test_missing_field_in_a_later_jsonl_record(tmp_path, template):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": 1, "text": "a"}\n{"id": 2}\n')
    with pytest.raises(TemplateError, match=r"d.jsonl:2 \(fields: id\)"):
        build_plan(data, template(), tmp_path / "p.jsonl")


@pytest.mark.parametrize("name, content, message", [
    ("bad.csv", "", "empty"),
    ("bad.jsonl", '{"id": 1, "text": "a"}\n[1, 2]\n', "must be a JSON object"),
    ("bad.jsonl", '{"id": 1\n', "invalid JSON"),
    ("bad.xlsx", "x", "unknown dataset type"),
])
def test_dataset_errors(tmp_path, template, name, content, message):
    data = tmp_path / name
    data.write_text(content)
    with pytest.raises(BadInput, match=message):
        build_plan(data, template(), tmp_path / "p.jsonl")


def test_split_waves_from_a_dataset(tmp_path, template, cli):
    data = tmp_path / "many.csv"
    data.write_text("id,text\n" + "".join(f"{i},text {i}\n" for i in range(30)))
    out = cli("plan", data, "--template", template(), "-o", tmp_path / "out" / "plan.jsonl", "--split")
    assert out.returncode == 0, out.stderr
    assert [p.split("/")[-1] for p in out.stdout.split()] == ["plan.gpt-4o-mini.wave-001.jsonl"]


# --- chunking --------------------------------------------------------------------------------------------
ENC = get_encoding("cl100k_base")


def _rebuild(text: str, spans) -> str:
    data = text.encode("utf-8")
    out, end = b"", 0
    for start, stop, piece in spans:
        assert data[start:stop].decode("utf-8") == piece
        out += data[max(start, end):stop]
        end = stop
    return out.decode("utf-8")


@pytest.mark.parametrize("text", [
    "word " * 1000, "日本語のテキスト。" * 300, "😀👍🏽👩‍👩‍👧" * 200, "\n\n".join(TRICKY) * 30, "x",
])
def test_chunks_round_trip_and_fit(text):
    spans = chunk_spans(text, ENC, 50, 10)
    assert _rebuild(text, spans) == text
    assert all(len(ENC.encode_ordinary(piece)) <= 50 for _, _, piece in spans)
    assert len(spans) > 1 or len(ENC.encode_ordinary(text)) <= 50


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=400), st.integers(8, 40), st.data())
def test_chunking_property(text, max_tokens, data):
    overlap = data.draw(st.integers(0, max_tokens - 1))
    spans = chunk_spans(text, ENC, max_tokens, overlap)
    assert _rebuild(text, spans) == text
    assert all(len(ENC.encode_ordinary(piece)) <= max_tokens for _, _, piece in spans)


def test_chunked_embeddings_plan(tmp_path, template, cli):
    docs = tmp_path / "docs"
    docs.mkdir()
    long_text = " ".join(f"sentence number {i} about batches." for i in range(200))
    (docs / "long.md").write_text(long_text)
    (docs / "short.md").write_text("tiny")
    t = template('endpoint: /v1/embeddings\nmodel: text-embedding-3-small\ncustom_id: "{name}"\n'
                 'body: {input: "{text}"}\nchunk: {max_tokens: 100, overlap: 20}\n', "e.yaml")
    out = tmp_path / "e.jsonl"
    assert cli("plan", docs, "--template", t, "-o", out).returncode == 0
    lines = _plan_lines(out)
    ids = [line["custom_id"] for line in lines]
    assert ids[0] == "long-1" and ids[-1] == "short-1" and len(ids) > 10
    counts = [json.loads(x)["input_tokens"] for x in cli("count", out, "-f", "jsonl").stdout.splitlines()]
    assert max(counts) <= 100
    assert cli("check", out).returncode == 0
