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

from tests.test_lifecycle import submit

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
    # where no signature is required, an unsigned approval is still taken
    other = tmp_path / "copy.jsonl"
    other.write_text(CHAT.read_text().replace("review-", "again-"))
    plain, _ = approve(cli, other, tmp_path, "search", name="plain")
    assert submit(cli, other, plain).returncode == 0
