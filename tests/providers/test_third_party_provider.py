"""A provider batchcost does not ship, registered from outside through the ``batchcost.providers`` entry-point
group (a dist-info on the path, as ``pip install`` of a third-party package makes), runs count, estimate, check and
split on its own plan: the provider interface is the whole contract."""
from __future__ import annotations

import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from batchcost.tokens.encodings import get_encoding
from tests.conftest import ROOT

PRICES = """currency: USD
source: the toy API's price page (a test)
checked_on: 2026-11-20
models:
  toy-1:
    input: 2
    output: 8
    batch: {input: 1, output: 4}
"""
PROMPTS = ["Summarise the attached report in three sentences.", "Translate 'good morning' into French.",
           "List the planets of the solar system.", "Write a haiku about batch jobs.",
           "Name three uses of a hash function."]


@pytest.fixture
def toy(tmp_path):
    """An installed third-party package: its module and a dist-info whose entry point names its provider."""
    site = tmp_path / "site"
    dist = site / "toy_batchcost-0.1.dist-info"
    dist.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "providers" / "thirdparty" / "toy_provider.py", site / "toy_batchcost.py")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-batchcost\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[batchcost.providers]\ntoy = toy_batchcost:PROVIDER\n")
    (tmp_path / "toy.yaml").write_text(PRICES)
    plan = tmp_path / "toy.jsonl"
    plan.write_text("".join(json.dumps({"id": f"r{i}", "model": "toy-1", "prompt": p, "max_new_tokens": 100}) + "\n"
                            for i, p in enumerate(PROMPTS)))
    return {"env": {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))},
            "plan": plan, "prices": tmp_path / "toy.yaml", "tmp": tmp_path}


def _expected_tokens() -> list[int]:
    encoding = get_encoding("o200k_base")
    return [len(encoding.encode(p)) + 4 for p in PROMPTS]


def test_without_the_package_the_toy_lines_are_no_known_shape(cli, toy):
    out = cli("count", toy["plan"], "--format", "jsonl")  # read as the default shape (OpenAI's), which they are not
    assert out.returncode == 1 and out.stderr.strip().endswith("toy.jsonl:1: custom_id is missing"), out.stderr


def test_a_registered_provider_counts_its_own_plan(cli, toy):
    out = cli("count", toy["plan"], "--format", "jsonl", env=toy["env"])
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["custom_id"] for r in rows] == [f"r{i}" for i in range(len(PROMPTS))]
    assert [r["input_tokens"] for r in rows] == _expected_tokens()
    assert {r["provider"] for r in rows} == {"toy"} and {r["max_output_tokens"] for r in rows} == {100}


def test_a_registered_provider_is_estimated_at_its_prices(cli, toy):
    out = cli("estimate", toy["plan"], "--prices", toy["prices"], "--format", "json", env=toy["env"])
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    tokens = sum(_expected_tokens())
    assert doc["input_tokens"] == tokens and doc["plan"]["provider"] == "toy"
    high = (Decimal(tokens) * 1 + Decimal(100 * len(PROMPTS)) * 4) / 10**6  # batch: $1 in, $4 out per 1M
    assert Decimal(doc["cost"]["batch"]["high"]) == high
    assert Decimal(doc["cost"]["realtime"]["high"]) == 2 * high


def test_a_registered_provider_checks_with_its_own_rules(cli, toy):
    bad = toy["tmp"] / "bad.jsonl"
    bad.write_text(toy["plan"].read_text() + json.dumps({"id": "x" * 20, "model": "toy-1", "prompt": "  "}) + "\n")
    out = cli("check", bad, "--format", "json", env=toy["env"])
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    found = {(f["line"], f["rule"]) for f in doc["findings"]}
    # its request rules on the bad line, and its limit (3 requests a batch) for the whole file
    assert found == {(6, "toy-id"), (6, "toy-empty"), (None, "too-many-requests")}, found
    [limit] = [f["message"] for f in doc["findings"] if f["rule"] == "too-many-requests"]
    assert "3" in limit
    short = toy["tmp"] / "short.jsonl"
    short.write_text("".join(toy["plan"].read_text().splitlines(keepends=True)[:3]))
    ok = cli("check", short, env=toy["env"])
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_registered_provider_is_split_at_its_own_limits(cli, toy):
    out = cli("split", toy["plan"], "--out-dir", toy["tmp"] / "waves", "--prices", toy["prices"], env=toy["env"])
    assert out.returncode == 0, out.stderr
    waves = sorted((toy["tmp"] / "waves").glob("*.jsonl"))
    assert [len(w.read_text().splitlines()) for w in waves] == [3, 2]  # the toy API takes 3 requests a batch
    assert b"".join(w.read_bytes() for w in waves) == toy["plan"].read_bytes()


def test_the_provider_option_names_it(cli, toy):
    out = cli("count", toy["plan"], "--provider", "toy", "--format", "jsonl", env=toy["env"])
    assert out.returncode == 0, out.stderr
    unknown = cli("count", toy["plan"], "--provider", "toy")
    assert unknown.returncode == 2 and "unknown provider 'toy'" in unknown.stderr


def test_a_broken_registration_is_one_line(cli, toy, tmp_path):
    entry = next(Path(toy["env"]["PYTHONPATH"].split(os.pathsep)[0]).glob("*.dist-info")) / "entry_points.txt"
    entry.write_text("[batchcost.providers]\ntoy = toy_batchcost:NO_SUCH_NAME\n")
    out = cli("count", toy["plan"], env=toy["env"])
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "the provider 'toy' (toy_batchcost:NO_SUCH_NAME) cannot be loaded" in out.stderr
