"""Reports: every file agrees with `estimate`, charts are valid files, the HTML is self-contained."""
from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from matplotlib.figure import Figure

import batchcost
from tests.providers.openai.test_counting import COOKBOOK_MESSAGES


@pytest.fixture
def plan(write_plan):
    lines = []
    for i in range(12):
        messages = COOKBOOK_MESSAGES if i % 3 else [{"role": "user", "content": "word " * (10 + 40 * i)}]
        lines.append({"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
                      "body": {"model": "gpt-4o-mini", "messages": messages, "max_tokens": 20 + i}})
    return write_plan(lines)


@pytest.fixture
def report_dir(plan, tmp_path, cli):
    out = tmp_path / "report"
    result = cli("report", plan, "--out", out, "--compare-models", "gpt-4.1-nano,gpt-5-nano", "--budget", "0.001",
                 "--output-tokens", "10")
    assert result.returncode == 0, result.stderr
    return out


def test_files_agree_with_each_other_and_with_estimate(report_dir, plan, cli):
    reference = json.loads(cli("estimate", plan, "-f", "json", "--output-tokens", "10").stdout)
    written = json.loads((report_dir / "estimate.json").read_text())
    for key in ("input_tokens", "output_tokens", "cost", "savings", "by_model"):
        assert written[key] == reference[key]
    assert written["plan"]["sha256"] == reference["plan"]["sha256"]

    rows = list(csv.DictReader((report_dir / "requests.csv").open()))
    assert [r["custom_id"] for r in rows] == [f"q{i}" for i in range(12)]
    assert sum(int(r["input_tokens"]) for r in rows) == written["input_tokens"]
    for column, tier, key in (("batch_expected", "batch", "expected"), ("realtime_high", "realtime", "high")):
        assert sum(Decimal(r[column]) for r in rows) == Decimal(written["cost"][tier][key])

    md = (report_dir / "report.md").read_text()
    html_text = (report_dir / "report.html").read_text()
    for tier in ("realtime", "batch"):
        for key in ("low", "expected", "high"):
            exact = written["cost"][tier][key]
            assert f"`{exact}`" in md
            assert f'data-exact="{exact}"' in html_text
    assert f"{written['input_tokens']:,}" in md and f"{written['input_tokens']:,}" in html_text
    assert written["plan"]["sha256"] in md and written["plan"]["sha256"] in html_text


def test_budget_section(report_dir):
    md = (report_dir / "report.md").read_text()
    assert "## Budget: $0.001" in md and "At expected: fits" in md and "At high: fits" in md
    budget = json.loads((report_dir / "estimate.json").read_text())["budget"]
    assert budget == {"amount": "0.001", "fits_expected": True, "fits_high": True}


def test_charts_are_valid_png_and_svg(report_dir):
    from PIL import Image

    names = {"cost", "breakdown", "input_tokens", "models"}
    for name in names:
        png = report_dir / "charts" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as image:
            image.verify()
            assert image.size[0] >= 600
        root = ET.parse(report_dir / "charts" / f"{name}.svg").getroot()
        assert root.tag.endswith("svg")


def test_html_references_nothing_outside_itself(report_dir):
    text = (report_dir / "report.html").read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", text)
    assert all(ref.startswith("#") for ref in refs), [r for r in refs if not r.startswith("#")]
    assert "<link" not in text and "<script" not in text and "@import" not in text
    assert not re.search(r"url\(\s*['\"]?(?!#)", text)
    assert "<!DOCTYPE svg" not in text and text.count("<svg") == 4


def test_comparison_counts_each_model_with_its_own_rules(report_dir):
    md = (report_dir / "report.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| gpt-")}
    plan_tokens = int(rows["gpt-4o-mini (plan)"].split("|")[3].strip().replace(",", ""))
    nano_tokens = int(rows["gpt-5-nano"].split("|")[3].strip().replace(",", ""))
    assert nano_tokens == plan_tokens - 12  # reasoning models: one token fewer per request


def test_notebook_api(plan):
    result = batchcost.estimate(plan, compare_models=["gpt-4.1-nano"], output_tokens=10)
    summary = result.summary()
    assert list(summary.columns) == ["low", "expected", "high"]
    assert summary.loc["batch cost (USD)", "expected"] == result.estimate.cost["batch"]["expected"]
    assert result.by_model().loc["gpt-4o-mini", "requests"] == 12
    requests = result.requests()
    assert len(requests) == 12 and requests["input_tokens"].sum() == result.estimate.input_tokens
    assert list(result.comparison().index) == ["gpt-4o-mini (plan)", "gpt-4.1-nano"]
    for method in ("plot_costs", "plot_breakdown", "plot_input_tokens", "plot_models"):
        assert isinstance(getattr(result, method)(), Figure)
    html_repr = result._repr_html_()
    assert "<table" in html_repr and "data-exact" in html_repr


def test_report_from_a_dataset(tmp_path, cli):
    out = tmp_path / "r"
    result = cli("report", "examples/reviews/reviews.csv", "--template", "examples/reviews/sentiment.yaml",
                 "--out", out)
    assert result.returncode == 0, result.stderr
    assert "examples/reviews/sentiment.yaml" in (out / "report.md").read_text()


def test_committed_example_report_is_current(cli):
    """examples/report is regenerated by the command in the README; its numbers must match today's estimate."""
    committed = json.loads(open("examples/report/estimate.json").read())
    fresh = json.loads(cli("estimate", "examples/reviews/reviews.csv", "--template", "examples/reviews/sentiment.yaml",
                           "-f", "json").stdout)
    for key in ("input_tokens", "cost", "by_model", "plan"):
        assert committed[key] == fresh[key]
