"""Counts against what the providers billed, on real request/usage pairs from public sources (tests/data/real_usage,
measured by tools/accuracy.py, whose figures the README's accuracy section gives).

Per provider and construct: every count labelled exact equals the bill; the bill lies inside the stated band of
the approximations (at least 95% of the pairs of each construct); Claude's centre is within 2% of the bill per
model family with enough pairs. A construct that regresses fails here by name."""
from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _accuracy():
    spec = importlib.util.spec_from_file_location("batchcost_accuracy", ROOT / "tools" / "accuracy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["batchcost_accuracy"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ACCURACY = _accuracy()


@pytest.fixture(scope="module")
def pairs():
    found, _ = ACCURACY.load_pairs()
    ACCURACY.count_pairs(found)
    return found


def _rows(pairs, by="construct"):
    return {(row.provider, row.group): row for row in ACCURACY.summarise(pairs, by)}


def test_the_data_is_the_real_pairs_and_nothing_is_refused(pairs):
    by_provider = defaultdict(int)
    for pair in pairs:
        by_provider[pair.provider] += 1
    assert by_provider["openai"] > 1000 and by_provider["anthropic"] > 400 and by_provider["gemini"] > 300
    refused = [(p.provider, p.model, p.error) for p in pairs if p.counted is None]
    assert not refused, refused[:5]


def test_no_count_labelled_exact_misses_the_bill(pairs):
    wrong = [(p.provider, p.model, p.endpoint, p.billed, p.counted, p.id) for p in pairs if p.exact and not p.right]
    assert not wrong, wrong[:5]


CONSTRUCTS = [
    ("openai", "tools"), ("openai", "tool_history"), ("openai", "structured_output"), ("openai", "responses"),
    ("openai", "image"), ("openai", "file"), ("openai", "multi_turn"), ("openai", "reasoning"), ("openai", "plain"),
    ("openai", "embeddings"), ("openai", "structured_output(json_object)"),
    ("anthropic", "tools"), ("anthropic", "tool_history"), ("anthropic", "thinking"), ("anthropic", "cache_control"),
    ("anthropic", "image"), ("anthropic", "document"), ("anthropic", "multi_turn"), ("anthropic", "plain"),
    ("gemini", "tools"), ("gemini", "tool_history"), ("gemini", "thinking"), ("gemini", "inline_data"),
    ("gemini", "multi_turn"), ("gemini", "system"), ("gemini", "plain"),
]


@pytest.mark.parametrize("provider, construct", CONSTRUCTS)
def test_each_construct_is_exact_or_inside_its_band(pairs, provider, construct):
    row = _rows(pairs)[(provider, construct)]
    assert row.pairs >= 5
    assert row.exact_right == row.exact_pairs, (row.exact_right, row.exact_pairs)
    if row.band_pairs:
        assert row.band_right >= 0.95 * row.band_pairs, (row.band_right, row.band_pairs)


@pytest.mark.parametrize("provider, group, exact", [
    ("groq", "chat", 12),  # Llama 3's template and vocabulary: every bill, exactly
    ("mistral", "embeddings", 2),  # mistral-common's encoding: exactly
    ("mistral", "chat", 0),  # a band: one bill of the same request is 9 tokens above the others
    ("together", "chat", 0),  # Llama 3.3's template with its date block, and Mixtral's
    ("together", "/v1/completions", 0),
])
def test_the_openai_compatible_services_bills_are_counted(pairs, provider, group, exact):
    row = _rows(pairs)[(provider, group)]
    assert row.exact_pairs == exact and row.exact_right == exact, (row.exact_pairs, row.exact_right)
    assert row.band_right == row.band_pairs, (row.band_right, row.band_pairs)
    assert row.refused == 0


@pytest.mark.parametrize("family", ["claude-sonnet-4", "claude-sonnet-4-5", "claude-3-5-haiku", "claude-haiku-4-5"])
def test_claudes_centre_is_within_two_percent_of_the_bill_per_family(pairs, family):
    row = _rows(pairs, "model")[("anthropic", family)]
    assert row.pairs >= 15
    assert abs(row.ratio - 1) <= 0.02, row.ratio


def test_openai_tools_and_history_centre_is_near_the_bill(pairs):
    rows = _rows(pairs)
    for construct in ("tools", "tool_history", "structured_output"):
        assert abs(rows[("openai", construct)].ratio - 1) <= 0.02, construct


def test_fitted_constants_are_what_the_fit_gives():
    """models.yaml's renderings and claude_constructs are the fit's output on this data (python tools/accuracy.py
    --fit), not tuned by hand: refitting gives the same tables."""
    from batchcost.data import load_data

    fresh, _ = ACCURACY.load_pairs()  # the fit recounts pairs in place: its own copy
    fitted = ACCURACY.fit_renderings(fresh)
    table = load_data("models.yaml")["renderings"]
    current = ""
    for line in fitted.splitlines():
        if line.startswith("    "):
            endpoint, _, fields = line.strip().partition(": ")
            family = current
            values = dict(item.split(": ") for item in fields.strip("{}").split(", "))
            assert {k: float(v) for k, v in values.items()} == \
                {k: float(v) for k, v in table[family][endpoint].items()}, (family, endpoint)
        elif line.startswith("  "):
            current = line.strip().rstrip(":")

    claude = load_data("models.yaml")["claude_constructs"]
    for line in ACCURACY.fit_claude(fresh).splitlines()[1:]:
        group, _, fields = line.strip().partition(": ")
        values = dict(item.split(": ") for item in fields.strip("{}").split(", "))
        assert {k: float(v) for k, v in values.items()} == {k: float(v) for k, v in claude[group].items()}, group
