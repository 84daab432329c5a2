"""The Batch API's image and video endpoints (/v1/images/generations, /v1/images/edits, /v1/videos): counted,
priced, checked and reconciled. Figures are compared with OpenAI's own: the image-generation guide's token table
and per-image prices, the pricing page's per-second video prices."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from batchcost import count_request
from batchcost.core.errors import PlanError
from batchcost.lifecycle.reconcile import reconcile
from batchcost.pricing import load_prices
from batchcost.pricing.cost import price_tokens
from batchcost.pricing.tables import MissingPrice

GEN, EDIT, VIDEO = "/v1/images/generations", "/v1/images/edits", "/v1/videos"

# https://developers.openai.com/api/docs/guides/image-generation#calculating-costs: USD per image (output only),
# 1024x1024 / 1024x1536 / 1536x1024, as printed (the page rounds to two or three decimals)
GUIDE_PER_IMAGE = {
    "gpt-image-1.5": {"low": ("0.009", "0.013", "0.013"), "medium": ("0.034", "0.05", "0.05"),
                      "high": ("0.133", "0.2", "0.2")},
    "gpt-image-1": {"low": ("0.011", "0.016", "0.016"), "medium": ("0.042", "0.063", "0.063"),
                    "high": ("0.167", "0.25", "0.25")},
    "gpt-image-2": {"low": ("0.006", "0.005", "0.005"), "medium": ("0.053", "0.041", "0.041"),
                    "high": ("0.211", "0.165", "0.165")},
}
SIZES = ("1024x1024", "1024x1536", "1536x1024")


def image(i, model="gpt-image-1.5", url=GEN, **body):
    return {"custom_id": f"img-{i}", "method": "POST", "url": url,
            "body": {"model": model, "prompt": f"a red fox, study {i}", **body}}


def video(i, model="sora-2", **body):
    return {"custom_id": f"vid-{i}", "method": "POST", "url": VIDEO,
            "body": {"model": model, "prompt": f"a fox runs, take {i}", **body}}


@pytest.fixture
def prices(monkeypatch):
    monkeypatch.delenv("BATCHCOST_PRICES", raising=False)
    return load_prices()


@pytest.mark.parametrize("model", sorted(GUIDE_PER_IMAGE))
def test_one_image_costs_what_the_guide_says(model, prices):
    """Our image output tokens at the model's image output rate give OpenAI's published per-image price, for every
    quality and standard size (within one unit of the last digit the page shows: it prints $0.25, $0.063)."""
    price = prices.lookup(model)
    for quality, row in GUIDE_PER_IMAGE[model].items():
        for size, published in zip(SIZES, row):
            counted = count_request(image(0, model, size=size, quality=quality)["body"], GEN)
            low, expected, high = counted.image_output
            cost = price_tokens(price, "realtime", input_tokens=0, output_tokens=expected,
                                image_output_tokens=expected)
            unit = Decimal(1).scaleb(Decimal(published).as_tuple().exponent)  # the page's last digit
            assert abs(cost - Decimal(published)) <= unit, (model, quality, size, cost, published)
            assert low <= expected <= high


def test_the_documented_token_table_is_exact():
    """The guide's table for models before gpt-image-2: 272 / 1056 / 4160 ... tokens, an exact count, times n."""
    counted = count_request(image(0, size="1024x1536", quality="high", n=3)["body"], GEN)
    assert counted.image_output == (3 * 6240, 3 * 6240, 3 * 6240)
    counted = count_request(image(0, size="1536x1024", quality="low")["body"], GEN)
    assert counted.image_output == (400, 400, 400)


def test_auto_choices_span_the_cheapest_and_dearest():
    """size and quality left to the model (the defaults): low is low quality at the cheapest size, high is high
    quality at the dearest, expected medium and square; the notes say so."""
    counted = count_request(image(0)["body"], GEN)
    assert counted.image_output == (272, 1056, 6240)
    assert any("quality auto" in n for n in counted.notes) and any("size auto" in n for n in counted.notes)
    # gpt-image-2 at a size of its own: scaled from the square figure inside a stated band
    low, mid, high = count_request(image(0, "gpt-image-2", size="2048x1152", quality="medium")["body"],
                                   GEN).image_output
    assert low < mid < high and mid == round(1767 * 2048 * 1152 / 1024 ** 2)
    # a quality with no published figure: the high is unknown, never a guess
    assert count_request(image(0, "gpt-image-2.5-flare", quality="xhigh")["body"], GEN).image_output[2] is None


def test_edit_input_images_are_image_tokens(tmp_path, write_plan, prices):
    """An edit's input images are counted as image tokens (GPT Image 1's tile rule) and priced at the image input
    rate; the prompt at the text rate; output at the image output rate."""
    import base64
    import struct
    import zlib

    def png(w, h):
        raw = b"".join(b"\x00" + b"\x10\x20\x30" * w for _ in range(h))
        chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

    url = "data:image/png;base64," + base64.b64encode(png(1024, 1024)).decode()
    line = image(0, url=EDIT, images=[{"image_url": url}], size="1024x1024", quality="medium")
    counted = count_request(line["body"], EDIT)
    assert counted.image_input_tokens == 65 + 4 * 129  # 1024 px -> 768 px short side -> 2 x 2 tiles
    text = counted.input_tokens - counted.image_input_tokens
    assert text > 0 and counted.image_output == (1056, 1056, 1056)
    from batchcost.estimation.estimate import estimate_plan

    estimate = estimate_plan(write_plan([line]), prices)
    price = prices.lookup("gpt-image-1.5")  # text 5, image input 8, image output 32 per 1M (genai-prices)
    expected = (text * price.realtime.input + 581 * price.realtime.image_input
                + 1056 * price.realtime.image_output) / 1_000_000
    assert Decimal(estimate.as_dict()["cost"]["realtime"]["expected"]) == expected
    assert estimate.cost["batch"]["expected"] == expected / 2
    model = estimate.as_dict()["by_model"][0]
    assert model["image_input_tokens"] == 581 and model["image_output_tokens"]["expected"] == 1056


def test_video_is_priced_by_the_second_and_size(write_plan, prices):
    """sora-2 $0.10 a second at 720p; sora-2-pro $0.30 at 720p and $0.50 at 1024p (the pricing page); the Batch
    API halves them. seconds default to 4 and size to 720x1280 (the SDK's documented defaults)."""
    from batchcost.estimation.estimate import estimate_plan

    plan = write_plan([video(1, "sora-2-pro", size="1792x1024", seconds="12"), video(2, "sora-2-pro"),
                       video(3, "sora-2-pro", size="1280x720", seconds=8)])
    doc = estimate_plan(plan, prices).as_dict()
    assert doc["by_model"][0]["video_seconds"] == {"1280x720": 8, "1792x1024": 12, "720x1280": 4}
    realtime = 12 * Decimal("0.50") + 4 * Decimal("0.30") + 8 * Decimal("0.30")
    assert Decimal(doc["cost"]["realtime"]["expected"]) == realtime == Decimal(doc["cost"]["realtime"]["high"])
    assert Decimal(doc["cost"]["batch"]["expected"]) == realtime / 2
    assert doc["input_tokens"] == 0


def test_a_size_with_no_price_is_an_error_never_zero(tmp_path, prices):
    from batchcost.pricing.tables import load_price_file

    path = tmp_path / "p.yaml"
    path.write_text("currency: USD\nsource: test\nchecked_on: 2026-12-01\nmodels:\n"
                    "  sora-2: {video_per_second: {\"720x1280\": 0.10}}\n"
                    "  gpt-image-1.5: {input: 5}\n")
    _, table = load_price_file(path)
    with pytest.raises(MissingPrice, match="1280x720"):
        price_tokens(table["sora-2"], "batch", input_tokens=0, video_seconds=4, video_size="1280x720")
    assert price_tokens(table["sora-2"], "batch", input_tokens=0, video_seconds=4,
                        video_size="720x1280") == Decimal("0.2")
    with pytest.raises(MissingPrice, match="image output"):
        price_tokens(table["gpt-image-1.5"], "batch", input_tokens=0, output_tokens=272, image_output_tokens=272)
    path.write_text(path.read_text().replace('"720x1280": 0.10', '"720p": 0.10'))
    with pytest.raises(Exception, match="not a size like 1280x720"):
        load_price_file(path)


BAD = [
    (image(1, n=11), "invalid-body", "1 to 10 images"),
    (image(2, size="800x600"), "invalid-body", "not a size gpt-image-1.5 makes"),
    (image(3, "gpt-image-2", size="1000x1000"), "invalid-body", "divisible by 16"),
    (image(4, "gpt-image-2", size="4000x1024"), "invalid-body", "aspect ratio"),
    (image(5, quality="ultra"), "invalid-body", "quality"),
    (image(6, stream=True), "stream", "stream"),
    (image(7, "gpt-4o"), "invalid-body", "needs an image model"),
    (video(8, seconds="5"), "invalid-body", "4, 8 or 12"),
    (video(9, size="1792x1024"), "invalid-body", "not a size sora-2 makes"),
    (image(10, url=EDIT), "invalid-body", "images is missing"),
]


@pytest.mark.parametrize("line, rule, words", BAD, ids=[w for _, _, w in BAD])
def test_check_finds_what_the_images_and_videos_endpoints_refuse(write_plan, cli, line, rule, words):
    model = line["body"]["model"] if line["body"]["model"].startswith("gpt-image") else "gpt-image-1.5"
    first = (video(0) if line["url"] == VIDEO else image(0, model, url=line["url"],
                                                          **({"images": [{"file_id": "file-1"}]}
                                                             if line["url"] == EDIT else {})))
    out = cli("check", write_plan([first, line]), "--format", "json")
    assert out.returncode == 1, out.stdout
    errors = [f for f in json.loads(out.stdout)["findings"] if f["severity"] == "error"]
    assert any(f["line"] == 2 and f["rule"] == rule and words in f["message"] for f in errors), errors
    assert all(f["line"] == 2 for f in errors)


def test_a_video_model_on_the_chat_endpoint_is_refused(write_plan, cli):
    line = {"custom_id": "c", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "sora-2", "messages": [{"role": "user", "content": "hi"}]}}
    out = cli("check", write_plan([line]))
    assert out.returncode == 1 and "sora-2 is a video model" in out.stdout


def test_bundled_examples_check_clean_and_estimate(cli):
    for plan in ("examples/images/generations.jsonl", "examples/images/edits.jsonl",
                 "examples/videos/teasers.jsonl"):
        out = cli("check", plan, "--format", "json")
        assert out.returncode == 0 and json.loads(out.stdout)["findings"] == [], out.stdout
        doc = json.loads(cli("estimate", plan, "--format", "json").stdout)
        assert Decimal(doc["cost"]["batch"]["expected"]) > 0


def _ok(cid, body):
    return {"id": f"br-{cid}", "custom_id": cid, "response": {"status_code": 200, "request_id": cid, "body": body},
            "error": None}


def test_reconcile_prices_image_and_video_results(tmp_path, write_plan, prices):
    """The Images API's usage (text and image input, image output) and a video's seconds and size are billed at
    their own rates, to the Decimal; a failed video job is a failed request."""
    plan = write_plan([image(1, size="1024x1024", quality="low"), image(2, size="1536x1024", quality="high")])
    results = tmp_path / "out.jsonl"
    usage1 = {"input_tokens": 20, "input_tokens_details": {"text_tokens": 20, "image_tokens": 0},
              "output_tokens": 272, "total_tokens": 292}
    usage2 = {"input_tokens": 18, "input_tokens_details": {"text_tokens": 18, "image_tokens": 0},
              "output_tokens": 6258, "output_tokens_details": {"image_tokens": 6208, "text_tokens": 50},
              "total_tokens": 6276}
    results.write_text("".join(json.dumps(_ok(f"img-{i}", {"created": 1, "data": [{"b64_json": "x"}], "usage": u}))
                               + "\n" for i, u in ((1, usage1), (2, usage2))))
    r = reconcile(plan, results, prices)
    batch = prices.lookup("gpt-image-1.5").batch  # text in 2.5, text out 5, image out 16 per 1M
    actual = (38 * batch.input + 50 * batch.output + (272 + 6208) * batch.image_output) / 1_000_000
    assert Decimal(r.actual["cost"]) == actual
    assert r.actual["output_tokens"] == 272 + 6258
    assert r.estimated["output_tokens"]["expected"] == 272 + 6208

    vplan = write_plan([video(1, "sora-2-pro", size="1024x1792", seconds="8"), video(2, "sora-2-pro")], "v.jsonl")
    vres = tmp_path / "vout.jsonl"
    vres.write_text(json.dumps(_ok("vid-1", {"id": "video_1", "object": "video", "model": "sora-2-pro",
                                             "status": "completed", "seconds": "8", "size": "1024x1792",
                                             "progress": 100, "created_at": 1})) + "\n"
                    + json.dumps(_ok("vid-2", {"id": "video_2", "object": "video", "model": "sora-2-pro",
                                               "status": "failed", "seconds": "4", "size": "720x1280",
                                               "error": {"code": "moderation_blocked", "message": "no"},
                                               "progress": 0, "created_at": 1})) + "\n")
    r = reconcile(vplan, vres, prices)
    assert r.counts["succeeded"] == 1 and r.counts["failed"] == 1
    assert Decimal(r.actual["cost"]) == 8 * Decimal("0.25")  # $0.50 a second at 1024p, halved
    assert Decimal(r.estimated["cost"]["expected"]) == 8 * Decimal("0.25")


def test_an_image_result_without_usage_is_listed(tmp_path, write_plan, prices):
    plan = write_plan([image(1, quality="low", size="1024x1024")])
    results = tmp_path / "out.jsonl"
    results.write_text(json.dumps(_ok("img-1", {"created": 1, "data": []})) + "\n")
    r = reconcile(plan, results, prices)
    assert r.counts["succeeded"] == 0 and any("usage" in i.message for i in r.issues)


def test_counting_errors_name_the_field():
    with pytest.raises(PlanError, match="body.prompt is missing"):
        count_request({"model": "gpt-image-1.5"}, GEN)
    with pytest.raises(PlanError, match="body.n must be a whole number"):
        count_request({"model": "gpt-image-1.5", "prompt": "x", "n": 1.5}, GEN)


def test_every_path_prices_media_the_same(tmp_path, cli):
    """split's per-wave cost, report's per-request rows, --jobs 2 and the full estimate agree on an image plan (each
    path prices image tokens at the image rates, never at the text output rate)."""
    import csv

    plan = "examples/images/generations.jsonl"
    full = json.loads(cli("estimate", plan, "--format", "json").stdout)
    jobs = json.loads(cli("estimate", plan, "--format", "json", "--jobs", "2").stdout)
    assert jobs["cost"] == full["cost"] and jobs["by_model"] == full["by_model"]
    out = cli("split", plan, "--out-dir", str(tmp_path / "waves"), "--max-requests", "2")
    assert out.returncode == 0, out.stderr
    waves = sorted((tmp_path / "waves").glob("*.jsonl"))
    highs = [Decimal(json.loads(cli("estimate", str(w), "--format", "json").stdout)["cost"]["batch"]["high"])
             for w in waves]
    assert sum(highs) == Decimal(full["cost"]["batch"]["high"])
    report = cli("report", plan, "--out", str(tmp_path / "rep"))
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader((tmp_path / "rep" / "requests.csv").open()))
    assert len(rows) == 5
    batch_col = next(k for k in rows[0] if "batch" in k and "expected" in k)
    assert sum(Decimal(r[batch_col]) for r in rows) == Decimal(full["cost"]["batch"]["expected"])


def test_an_image_batchs_own_usage_is_never_priced_at_text_rates():
    """A batch object's usage does not say which tokens were image tokens: `status` shows no cost so far for an
    image or video batch rather than a figure at the text rates (gpt-image-1.5: text output $10, image $32)."""
    from batchcost.cli.batch import cost_so_far

    batch = {"id": "batch_1", "endpoint": GEN, "status": "in_progress",
             "usage": {"input_tokens": 40, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4160,
                       "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 4200}}
    assert cost_so_far(batch, "gpt-image-1.5") is None
    assert cost_so_far({**batch, "endpoint": VIDEO}, "sora-2") is None
    assert cost_so_far({**batch, "endpoint": "/v1/chat/completions"}, "gpt-4o-mini") is not None
