"""The team's record of batch spend: plans under two projects approved, submitted to aimock (the real SDK), some
reconciled and some in flight; `spend` gives the exact approved / committed / actual; budgets refuse an approval or
a submission over what is left; signed approvals are verified with OpenSSH's ssh-keygen."""
from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.lifecycle.test_lifecycle import submit

CHAT = Path("examples/reviews_sentiment.jsonl")
EMBED = Path("examples/docs_embeddings.jsonl")
VIDEO = Path("examples/videos/teasers.jsonl")


def approve(cli, plan, tmp_path, project, *extra, name=None, budget="10"):
    out = tmp_path / f"{name or Path(plan).stem}.approval.json"
    result = cli("approve", plan, "--budget", budget, "--by", "Dana (finance)", "--project", project, "-o", out,
                 *extra)
    return out, result


def high(approval: Path) -> Decimal:
    return Decimal(json.loads(approval.read_text())["estimate"]["cost"]["batch"]["high"])


def test_spend_by_project_and_month_is_exact(aimock, cli, tmp_path):
    chat, ok = approve(cli, CHAT, tmp_path, "search")
    assert ok.returncode == 0, ok.stderr
    embed, ok = approve(cli, EMBED, tmp_path, "search")
    assert ok.returncode == 0, ok.stderr
    video, ok = approve(cli, VIDEO, tmp_path, "media")  # approved, never submitted
    assert ok.returncode == 0, ok.stderr
    # the chat plan: submitted, finished and reconciled; the embeddings plan: submitted, in flight
    sub = submit(cli, CHAT, chat)
    assert sub.returncode == 0, sub.stderr
    batch_id = json.loads(sub.stdout)["batches"][0]["id"]
    assert cli("wait", batch_id, "--poll-interval", "0.05").returncode == 0
    rec = cli("reconcile", "--batch", batch_id, "--format", "json")
    assert rec.returncode == 0, rec.stderr
    actual = Decimal(json.loads(rec.stdout)["actual"]["cost"])
    estimated = Decimal(json.loads(rec.stdout)["estimated"]["cost"]["expected"])
    assert submit(cli, EMBED, embed).returncode == 0
    from tests.conftest import ledger_rows

    assert {r["project"] for r in ledger_rows("SELECT project FROM submissions")} == {"search"}  # every wave

    doc = json.loads(cli("spend", "--by", "project", "--format", "json").stdout)
    groups = {g["key"]: g for g in doc["groups"]}
    assert set(groups) == {"search", "media"}
    search, media = groups["search"], groups["media"]
    assert Decimal(search["approved"]) == high(chat) + high(embed)
    assert Decimal(search["committed"]) == high(embed)  # in flight, at its high: never $0
    assert Decimal(search["actual"]) == actual and actual > 0
    assert search["accuracy"]["reconciled"] == 1
    assert Decimal(search["accuracy"]["actual_over_estimated"]) == (actual / estimated).quantize(Decimal("0.001"))
    assert Decimal(media["approved"]) == high(video)
    assert Decimal(media["committed"]) == 0 and Decimal(media["actual"]) == 0  # approved only
    assert Decimal(doc["total"]["approved"]) == high(chat) + high(embed) + high(video)
    [month] = json.loads(cli("spend", "--format", "json").stdout)["groups"]
    assert Decimal(month["approved"]) == Decimal(doc["total"]["approved"])
    csv_out = cli("spend", "--by", "project", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("project,plans,approved,committed,actual") and len(csv_out) == 3
    assert cli("spend", "--since", "2099-01-01", "--format", "json").stdout.count('"key"') == 0
    assert "Batch spend by month" in cli("spend").stdout
    report = cli("spend", "--by", "project", "--report", tmp_path / "spend")
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "spend" / "spend.html").read_text()
    assert "<svg" in page and not any(x in page for x in ('src="http', "<link", "<script"))  # self-contained
    assert json.loads((tmp_path / "spend" / "spend.json").read_text())["groups"] == doc["groups"]
    for chart in ("by_month", "committed_actual", "accuracy"):
        assert (tmp_path / "spend" / "charts" / f"spend_{chart}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| search |" in (tmp_path / "spend" / "spend.md").read_text()
    # the default project: BATCHCOST_PROJECT (else config.yaml's project)
    out = tmp_path / "default.json"
    made = cli("approve", CHAT, "--budget", "1", "--by", "Dana", "-o", out, env={"BATCHCOST_PROJECT": "ads"})
    assert made.returncode == 0 and json.loads(out.read_text())["project"] == "ads"


def test_budgets_hold_at_approval_and_at_submission(aimock, cli, tmp_path):
    chat_high = Decimal(json.loads(cli("estimate", CHAT, "--format", "json").stdout)["cost"]["batch"]["high"])
    budgets = tmp_path / "budgets.yaml"
    # room for one chat plan and a bit: a second one in flight leaves too little
    limit = chat_high * 3 / 2
    budgets.write_text(f"currency: USD\nbudgets:\n  - {{project: search, period: month, limit: \"{limit}\"}}\n")
    first, ok = approve(cli, CHAT, tmp_path, "search", "--budgets", budgets)
    assert ok.returncode == 0, ok.stderr
    # another plan of the same size is approved while the first is not yet submitted (nothing committed) ...
    other = tmp_path / "copy.jsonl"
    other.write_text(CHAT.read_text().replace("review-", "again-"))
    second, ok = approve(cli, other, tmp_path, "search", "--budgets", budgets, name="second")
    assert ok.returncode == 0, ok.stderr
    assert submit(cli, CHAT, first, "--budgets", str(budgets)).returncode == 0
    # ... and refused at submission, once the first is in flight: nothing was sent for it
    before = len(aimock.calls("POST", "/v1/batches"))
    late = submit(cli, other, second, "--budgets", str(budgets))
    assert late.returncode == 3 and "over budget at submission" in late.stderr and "left" in late.stderr
    assert len(aimock.calls("POST", "/v1/batches")) == before
    refused, no = approve(cli, other, tmp_path, "search", "--budgets", budgets, name="third")
    assert no.returncode == 3 and "over by" in no.stderr and not refused.exists()
    # another project is not held by search's budget; "*" holds every project
    _, ok = approve(cli, other, tmp_path, "media", "--budgets", budgets, name="media")
    assert ok.returncode == 0
    budgets.write_text(budgets.read_text() + f"  - {{project: \"*\", period: quarter, limit: \"{limit}\"}}\n")
    _, no = approve(cli, other, tmp_path, "media", "--budgets", budgets, name="media2")
    assert no.returncode == 3 and "'*'" in no.stderr
    use = {b["project"]: b for b in json.loads(cli("spend", "--budgets", budgets, "--format", "json").stdout)
           ["budgets"]}
    assert Decimal(use["search"]["committed"]) == chat_high
    assert Decimal(use["search"]["left"]) == limit - chat_high


@pytest.fixture
def keys(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen (OpenSSH) is needed: .ci/run installs openssh-client")
    made = {}
    for who in ("dana", "eve"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(tmp_path / who)],
                       check=True)
        made[who] = tmp_path / who
    allowed = tmp_path / "allowed_signers"
    pub = (tmp_path / "dana.pub").read_text().split()
    allowed.write_text(f'dana@example.com namespaces="batchcost" {pub[0]} {pub[1]}\n')
    return made, allowed


def test_signed_approvals_are_verified(aimock, cli, tmp_path, keys):
    made, allowed = keys
    good, ok = approve(cli, CHAT, tmp_path, "search", "--sign-with", made["dana"], "--principal", "dana@example.com",
                       name="good")
    assert ok.returncode == 0 and "signed as dana@example.com" in ok.stdout, ok.stderr
    record = json.loads(good.read_text())
    assert record["signature"]["principal"] == "dana@example.com"
    assert record["signature"]["sig"].startswith("-----BEGIN SSH SIGNATURE-----")
    forged, _ = approve(cli, CHAT, tmp_path, "search", "--sign-with", made["eve"], "--principal", "dana@example.com",
                        name="forged")
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**record, "budget": "1000000"}))
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps({**record, "signature": {**record["signature"], "principal": "boss@example.com"}}))
    unsigned, _ = approve(cli, CHAT, tmp_path, "search", name="unsigned")
    for approval, words in ((forged, "does not verify"), (edited, "does not verify"),
                            (renamed, "does not verify"), (unsigned, "unsigned")):
        out = submit(cli, CHAT, approval, "--allowed-signers", str(allowed))
        assert out.returncode == 3 and words in out.stderr, (approval, out.stderr)
    assert aimock.calls("POST", "/v1/batches") == []
    # the setting makes signatures required as the option does
    out = cli("submit", CHAT, "--approval", unsigned, env={"BATCHCOST_ALLOWED_SIGNERS": str(allowed)})
    assert out.returncode == 3 and "unsigned" in out.stderr
    ok = submit(cli, CHAT, good, "--allowed-signers", str(allowed))
    assert ok.returncode == 0 and "approval signed by dana@example.com" in ok.stderr, ok.stderr
    assert len(aimock.calls("POST", "/v1/batches")) == 1
    # where signatures are required, approve refuses at once a signature submit would refuse, and writes nothing
    required = {"BATCHCOST_ALLOWED_SIGNERS": str(allowed)}
    early = cli("approve", CHAT, "--budget", "5", "--by", "eve", "--sign-with", made["eve"], "--principal",
                "dana@example.com", "-o", tmp_path / "early.json", env=required)
    assert early.returncode == 3 and "does not verify" in early.stderr, early.stderr
    assert not (tmp_path / "early.json").exists()
    warned = cli("approve", CHAT, "--budget", "5", "--by", "eve", "-o", tmp_path / "warned.json", env=required)
    assert warned.returncode == 0 and "unsigned: submit will refuse it" in warned.stderr, warned.stderr
    # where no signature is required, an unsigned approval is still taken
    other = tmp_path / "copy.jsonl"
    other.write_text(CHAT.read_text().replace("review-", "again-"))
    plain, _ = approve(cli, other, tmp_path, "search", name="plain")
    assert submit(cli, other, plain).returncode == 0


def test_concurrent_submits_from_several_processes_make_one_batch(aimock, cli, tmp_path, _ledger_backend):
    """Four submitters of one approved plan at once (separate processes, as on separate machines sharing the team
    ledger): one upload, one batch, and every one of them reports it."""
    import os
    import sys

    approval, ok = approve(cli, CHAT, tmp_path, "search")
    assert ok.returncode == 0, ok.stderr
    procs = [subprocess.Popen([sys.executable, "-m", "batchcost", "submit", str(CHAT), "--approval", str(approval),
                               "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ), cwd=Path(__file__).resolve().parents[2]) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    ids = {json.loads(o[0])["batches"][0]["id"] for o in outs}
    assert len(ids) == 1
    assert len(aimock.calls("POST", "/v1/files")) == 1 and len(aimock.calls("POST", "/v1/batches")) == 1
    assert sum(json.loads(o[0])["created"] for o in outs) == 1


def test_an_unreachable_team_ledger_is_one_line_without_its_password(cli, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://team:s3cret-pw@127.0.0.1:{port}/ledger?password=s3cret-pw"
    out = cli("spend", env={"BATCHCOST_LEDGER_URL": url})
    assert out.returncode == 1 and "s3cret-pw" not in out.stdout + out.stderr
    assert "cannot reach the ledger at postgresql://team@127.0.0.1" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    wrong = cli("spend", env={"BATCHCOST_LEDGER_URL": "mysql://x@h/db"})
    assert wrong.returncode == 1 and "must be a postgresql:// URL" in wrong.stderr


def test_batches_that_report_usage_are_priced_by_it(tmp_path, write_plan):
    """A batch object's own usage (OpenAI batches carry it; aimock's do not) is shown beside committed while the
    batch runs, and is the plan's actual, flagged unreconciled, once every wave has ended and before a
    reconcile; budgets count it as spent."""
    from batchcost.estimation.estimate import estimate_plan
    from batchcost.lifecycle.approval import make_approval
    from batchcost.lifecycle.ledger import Ledger
    from batchcost.lifecycle.spend import spend
    from batchcost.pricing import load_prices
    from batchcost.pricing.cost import price_tokens

    prices = load_prices([], use_env=False)
    estimate = estimate_plan(CHAT, prices)
    approval = make_approval(estimate, budget=Decimal(1), by="Dana", project="search")
    ledger = Ledger()
    ledger.add_approval(approval)
    sha = approval["plan"]["sha256"]
    ledger.add_schedule([dict(plan_sha256=sha, plan_path=str(CHAT), wave=1, waves=1, attempt=1, wave_path=str(CHAT),
                              wave_sha256=sha, endpoint="/v1/chat/completions", requests=8, base_url=None,
                              approval=json.dumps(approval), input_tokens=estimate.input_tokens)])
    [sub] = ledger.submissions(sha)
    ledger.update(sub, state="created", batch_id="batch_1", file_id="file_1")
    usage = {"input_tokens": 900, "input_tokens_details": {"cached_tokens": 100}, "output_tokens": 40,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 940}
    ledger.record_status({"id": "batch_1", "status": "in_progress", "endpoint": "/v1/chat/completions",
                          "request_counts": {"total": 8, "completed": 3, "failed": 0}, "usage": usage})
    so_far = price_tokens(prices.lookup("gpt-4o-mini"), "batch", input_tokens=900, cached_input_tokens=100,
                          output_tokens=40)
    [g] = spend(ledger, by="project", prices=prices)["groups"]
    high = Decimal(approval["estimate"]["cost"]["batch"]["high"])
    assert Decimal(g["committed"]) == high and Decimal(g["in_flight_usage"]) == so_far
    assert Decimal(g["actual"]) == 0 and g["unreconciled"] == {"plans": 0, "actual": "0"}
    ledger.record_status({"id": "batch_1", "status": "completed", "endpoint": "/v1/chat/completions",
                          "request_counts": {"total": 8, "completed": 8, "failed": 0},
                          "usage": {**usage, "output_tokens": 64}})
    final = price_tokens(prices.lookup("gpt-4o-mini"), "batch", input_tokens=900, cached_input_tokens=100,
                         output_tokens=64)
    [g] = spend(ledger, by="project", prices=prices)["groups"]
    assert Decimal(g["committed"]) == 0 and Decimal(g["actual"]) == final
    assert g["unreconciled"]["plans"] == 1 and Decimal(g["unreconciled"]["actual"]) == final
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - {project: search, period: month, limit: 1}\n")
    [use] = spend(ledger, budgets_path=budgets, prices=prices)["budgets"]
    assert Decimal(use["actual"]) == final and Decimal(use["left"]) == 1 - final
    # a reconcile replaces the reported figure with the results' own
    ledger.add_reconciliation(sha, "batch_1", "0.0001", "0.0002", 8)
    [g] = spend(ledger, by="project", prices=prices)["groups"]
    assert Decimal(g["actual"]) == Decimal("0.0001") and g["unreconciled"]["plans"] == 0


def test_a_template_books_its_plans_to_its_project(cli, tmp_path):
    template = tmp_path / "sentiment.yaml"
    template.write_text("project: reviews-team\n" + Path("examples/reviews/sentiment.yaml").read_text())
    plan = tmp_path / "reviews.jsonl"
    made = cli("plan", "examples/reviews/reviews.csv", "--template", template, "-o", plan)
    assert made.returncode == 0, made.stderr
    out = tmp_path / "a.json"
    assert cli("approve", plan, "--budget", "1", "--by", "Dana", "-o", out).returncode == 0
    assert json.loads(out.read_text())["project"] == "reviews-team"
    # --project still wins; a plan no template made has none
    assert cli("approve", plan, "--budget", "1", "--by", "Dana", "--project", "x", "-o", out).returncode == 0
    assert json.loads(out.read_text())["project"] == "x"
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: [1]\n" + Path("examples/reviews/sentiment.yaml").read_text())
    refused = cli("plan", "examples/reviews/reviews.csv", "--template", bad, "-o", tmp_path / "b.jsonl")
    assert refused.returncode == 1 and "project must be a name" in refused.stderr


def test_a_range_that_ends_before_it_starts_is_a_usage_error(cli):
    out = cli("spend", "--since", "2026-12-01", "--until", "2026-11-01")
    assert out.returncode == 2 and out.stderr.strip() == ("batchcost: error: --until 2026-11-01 is before --since "
                                                          "2026-12-01: no day is in that range")
    assert cli("spend", "--since", "2026-11-01", "--until", "2026-11-01").returncode == 0  # one day is a range
