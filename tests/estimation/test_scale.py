"""Parallel and Dask engines give the local engine's results exactly; sampling brackets the true totals."""
from __future__ import annotations

import json
import multiprocessing
import os
import random

import pandas as pd
import pytest

from batchcost.core.workers import process_map
from batchcost.estimation.estimate import estimate_plan
from batchcost.estimation.forecast import OutputForecast
from batchcost.estimation.parallel import byte_ranges, estimate_in_parts
from batchcost.pricing import load_prices

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "ünïcode", "日本", "🙂", "quote\"s", "new\nline"]
SHARED = "You follow the house style guide. " * 200  # a long shared prefix: exercises the cache forecast


def make_plan(write_plan, n=600, seed=5, name="plan.jsonl"):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 120)))
        model = "gpt-4o-mini" if i % 7 else "gpt-4.1-nano"
        body = {"model": model, "messages": [{"role": "system", "content": SHARED}, {"role": "user", "content": text}]}
        if i % 5:
            body["max_tokens"] = rng.randint(1, 500)
        lines.append({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body})
    return write_plan(lines, name)


def test_byte_ranges_cover_the_file():
    for size, parts in ((0, 4), (1, 4), (10, 3), (1000, 7)):
        ranges = byte_ranges(size, parts)
        assert ranges[0][0] == 0 and ranges[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


@pytest.mark.parametrize("jobs", [2, 3])
def test_processes_match_the_serial_engine(write_plan, jobs):
    plan = make_plan(write_plan)
    prices = load_prices([])
    serial = estimate_plan(plan, prices).as_dict()
    parallel = estimate_in_parts(plan, prices, forecast=OutputForecast(), jobs=jobs).as_dict()
    assert parallel == serial
    assert serial["cache"]["cached_input_tokens"]["high"] > 0


_PARENT_DID_ONE = multiprocessing.get_context("fork").Event()  # inherited by the forked workers


def _pid_and_square(x, parent):
    """Workers hold their first part until this process has finished one, so the test never races the scheduler."""
    if os.getpid() == parent:
        _PARENT_DID_ONE.set()
    else:
        assert _PARENT_DID_ONE.wait(timeout=60), "the command's own process never claimed a part"
    return os.getpid(), x * x


def _fail_at(i, bad):
    if i == bad:
        raise ValueError(f"part {i} failed")
    return i


def test_process_map_works_here_too_and_keeps_order():
    seen = []
    _PARENT_DID_ONE.clear()
    results = process_map(2, progress=seen.append)(_pid_and_square, [(i, os.getpid()) for i in range(12)])
    assert [square for _, square in results] == [i * i for i in range(12)]
    pids = {pid for pid, _ in results}
    assert os.getpid() in pids and len(pids) <= 2  # this process and (at most) one forked worker
    assert seen == []  # only byte-range parts are reported as progress


def _span(path, start, end):
    return end - start


def test_process_map_reports_every_byte_once():
    seen = []
    ranges = byte_ranges(10_000, 9)
    process_map(2, progress=seen.append)(_span, [("plan", a, b) for a, b in ranges])
    assert sum(seen) == 10_000 and all(n > 0 for n in seen)


@pytest.mark.parametrize("bad", [0, 11])
def test_process_map_raises_the_first_failure(bad):
    with pytest.raises(ValueError, match=f"part {bad} failed"):
        process_map(2)(_fail_at, [(i, bad) for i in range(12)])


def test_parallel_errors_name_the_right_line(write_plan, cli):
    plan = make_plan(write_plan, n=400)
    lines = plan.read_text().splitlines()
    lines[287] = '{"custom_id": "broken", "method": "POST"'
    plan.write_text("\n".join(lines) + "\n")
    out = cli("estimate", plan, "--jobs", "3")
    assert out.returncode == 1 and f"{plan}:288: invalid JSON" in out.stderr


@pytest.fixture(scope="module")
def dask_scheduler():
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def test_dask_matches_local_on_a_plan(write_plan, cli, dask_scheduler):
    plan = make_plan(write_plan)
    local = json.loads(cli("estimate", plan, "-f", "json").stdout)
    out = cli("estimate", plan, "-f", "json", "--engine", "dask", "--scheduler", dask_scheduler, "--jobs", "2")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == local


def test_dask_on_a_parquet_folder(tmp_path, cli, dask_scheduler):
    folder = tmp_path / "corpus"
    folder.mkdir()
    rng = random.Random(11)
    for part in range(4):
        rows = [{"id": f"{part}-{i}", "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60)))}
                for i in range(50)]
        pd.DataFrame(rows).to_parquet(folder / f"part-{part}.parquet")
    template = tmp_path / "t.yaml"
    template.write_text('endpoint: /v1/chat/completions\nmodel: gpt-4o-mini\ncustom_id: "doc-{id}-{_row}"\n'
                        'body:\n  max_tokens: 20\n  messages:\n    - {role: user, content: "{text}"}\n')
    local = json.loads(cli("estimate", folder, "--template", template, "-f", "json").stdout)
    remote = cli("estimate", folder, "--template", template, "-f", "json", "--engine", "dask",
                 "--scheduler", dask_scheduler)
    assert remote.returncode == 0, remote.stderr
    remote = json.loads(remote.stdout)
    for key in ("input_tokens", "output_tokens", "cost", "by_model"):
        assert remote[key] == local[key]
    # the plan written on the cluster is byte for byte the local one
    assert cli("plan", folder, "--template", template, "-o", tmp_path / "local.jsonl").returncode == 0
    out = cli("plan", folder, "--template", template, "-o", tmp_path / "dask.jsonl", "--engine", "dask",
              "--scheduler", dask_scheduler)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "dask.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()


def test_sample_brackets_the_true_totals(write_plan, cli):
    plan = make_plan(write_plan, n=5000, seed=9)
    truth = json.loads(cli("estimate", plan, "-f", "json").stdout)
    sampled = json.loads(cli("estimate", plan, "-f", "json", "--sample", "300", "--seed", "1").stdout)
    s = sampled["sample"]
    assert s["draws"] == 300 and s["confidence"] == 0.95
    assert s["requests"]["low"] <= truth["plan"]["requests"] <= s["requests"]["high"]
    assert s["input_tokens"]["low"] <= truth["input_tokens"] <= s["input_tokens"]["high"]
    exp = s["cost"]["batch"]["expected"]
    from decimal import Decimal

    assert Decimal(exp["low"]) <= Decimal(truth["cost"]["batch"]["expected"]) <= Decimal(exp["high"])
    assert any("random sample" in w for w in sampled["warnings"])
    again = json.loads(cli("estimate", plan, "-f", "json", "--sample", "300", "--seed", "1").stdout)
    assert again["sample"] == s  # a seed makes it repeatable
    percent = json.loads(cli("estimate", plan, "-f", "json", "--sample", "2%", "--seed", "2").stdout)
    assert percent["sample"]["draws"] >= 30
    assert cli("estimate", plan, "--sample", "lots").returncode == 2


def test_a_gemini_plan_counts_the_same_on_processes_and_on_dask(write_plan, cli, dask_scheduler):
    """--model is how a Gemini plan is read: worker processes and Dask workers are told it too."""
    rng = random.Random(5)
    rows = [{"key": f"k{i}", "request": {"contents": [{"parts": [{"text": " ".join(
        rng.choice(WORDS) for _ in range(rng.randint(1, 80)))}]}]}} for i in range(400)]
    plan = write_plan(rows)
    local = json.loads(cli("estimate", plan, "-f", "json", "--model", "gemini-2.5-flash").stdout)
    for extra in (("--jobs", "2"), ("--engine", "dask", "--scheduler", dask_scheduler, "--jobs", "2")):
        out = cli("estimate", plan, "-f", "json", "--model", "gemini-2.5-flash", *extra)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == local, extra
