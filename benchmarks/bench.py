"""Benchmarks: ours against a baseline, measured in the same run, printed as ratios. Not a test.

    python benchmarks/bench.py            # realistic + unique-text speed, memory at 100 MB
    python benchmarks/bench.py --big      # also memory at 1 GB, and --sample on 10 GB (needs 11 GB in --dir)

1. Realistic plan (every request shares a long system prompt and tools, plus its own user text): batchcost's
   counting vs the cookbook's num_tokens_from_messages/num_tokens_for_tools loop over the same plan.
2. Unique texts: batchcost estimate with all cores vs raw single-threaded tiktoken encode_ordinary over the same
   texts (the texts already in memory: the baseline does no I/O or JSON at all). Target: >= 0.85 x cores.
3. Memory: peak memory of `batchcost estimate` (the process and its workers: PSS summed, RSS summed shown too) on
   plans of 100 MB (and 1 GB).
5. Gemini: exact Gemma 3 counting of a Gemini batch plan (all cores) vs raw Hugging Face tokenizers encoding of the
   same texts in memory, one thread. Target: >= 0.85 x cores.
4. Sampling (--big): `estimate --sample` on a 10 GB plan whose true totals are known (the 1 GB plan ten times over):
   the seconds it takes, and whether the truth lies inside the stated 95% interval.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import tiktoken

from batchcost.tokens.encodings import get_encoding

WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her she there been one all we their has would when what if so no my more into time only "
         "data model price batch token request review customer quality shipping arrived broken excellent").split()
_rng = random.Random(0)
SYSTEM = ("You are a meticulous analyst for a retail company. Read the customer review and classify it. "
          "Follow the house rules below. " + " ".join(_rng.choice(WORDS) + ("." if _rng.random() < 0.08 else "")
                                                      for _ in range(1500)))  # ~1,600 tokens, not repetitive
TOOLS = [{"type": "function", "function": {
    "name": f"record_{name}", "description": f"Record the {name} of the review.",
    "parameters": {"type": "object", "properties": {
        "label": {"type": "string", "description": "The label chosen", "enum": ["positive", "negative", "neutral"]},
        "confidence": {"type": "number", "description": "Confidence between 0 and 1"},
        "evidence": {"type": "string", "description": "A short quote from the review"}}}}}
    for name in ("sentiment", "topic", "urgency", "language")]


def text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def write_plan(path: Path, target_bytes: int, kind: str, seed: int = 1) -> int:
    rng = random.Random(seed)
    n = written = 0
    with path.open("w") as fh:
        while written < target_bytes:
            if kind == "gemini":  # a Gemini API batch line: unique text, the model is the batch's (--model)
                request = {"contents": [{"role": "user", "parts": [{"text": f"{n} " + text(rng, 50, 400)}]}],
                           "generationConfig": {"maxOutputTokens": 200}}
                fh.write(line := json.dumps({"key": f"r{n}", "request": request}) + "\n")
                written += len(line)
                n += 1
                continue
            if kind == "realistic":
                body = {"model": "gpt-4o-mini", "max_tokens": 200, "tools": TOOLS, "messages": [
                    {"role": "system", "content": SYSTEM}, {"role": "user", "content": text(rng, 20, 120)}]}
            else:
                lo, hi = (50, 400) if kind == "unique" else (500, 2000)
                body = {"model": "gpt-4o-mini", "max_tokens": 200,
                        "messages": [{"role": "user", "content": f"{n} " + text(rng, lo, hi)}]}
            line = json.dumps({"custom_id": f"r{n}", "method": "POST", "url": "/v1/chat/completions", "body": body})
            fh.write(line + "\n")
            written += len(line) + 1
            n += 1
    return n


# -- the baseline: the cookbook's functions, as published -----------------------------------------------------
def cookbook_messages(enc, messages) -> int:
    num = 0
    for message in messages:
        num += 3
        for key, value in message.items():
            num += len(enc.encode(value))
            if key == "name":
                num += 1
    return num + 3


def cookbook_tools(enc, functions, messages) -> int:
    func_init, prop_init, prop_key, enum_init, enum_item, func_end = 7, 3, 3, -3, 3, 12
    count = 0
    for f in functions:
        count += func_init
        function = f["function"]
        desc = function["description"]
        if desc.endswith("."):
            desc = desc[:-1]
        count += len(enc.encode(function["name"] + ":" + desc))
        properties = function["parameters"]["properties"]
        if properties:
            count += prop_init
            for key, prop in properties.items():
                count += prop_key
                if "enum" in prop:
                    count += enum_init
                    for item in prop["enum"]:
                        count += enum_item + len(enc.encode(item))
                p_desc = prop["description"]
                if p_desc.endswith("."):
                    p_desc = p_desc[:-1]
                count += len(enc.encode(f"{key}:{prop['type']}:{p_desc}"))
    if functions:
        count += func_end
    return count + cookbook_messages(enc, messages)


def baseline_cookbook(path: Path) -> tuple[int, float]:
    enc = get_encoding("o200k_base")  # the same tiktoken Encoding, loaded offline
    start, total = time.perf_counter(), 0
    with path.open() as fh:
        for line in fh:
            body = json.loads(line)["body"]
            total += cookbook_tools(enc, body.get("tools", []), body["messages"])
    return total, time.perf_counter() - start


peak_mb: dict = {}


def ours(path: Path, jobs: int, *extra: str) -> tuple[int, float, float]:
    """(input tokens, seconds, peak RSS MB of the process tree) of `batchcost estimate` in a subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "batchcost", "estimate", str(path), "-f", "json", "--jobs",
                             str(jobs), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"rss": 0}
    stop = threading.Event()
    threading.Thread(target=_watch_rss, args=(proc.pid, peak, stop), daemon=True).start()
    out, err = proc.communicate()
    stop.set()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(err)
    peak_mb[path.name, jobs] = (peak["rss"] / 1024, peak.get("rss_sum", 0) / 1024)
    last_output[path.name] = json.loads(out)
    return last_output[path.name]["input_tokens"], seconds, peak["rss"] / 1024


last_output: dict = {}


def ours_in_process(path: Path, jobs: int) -> float:
    """Seconds for the library's parallel estimate (worker start-up included, interpreter start-up not)."""
    from batchcost.estimation.estimate import estimate_plan
    from batchcost.estimation.forecast import OutputForecast
    from batchcost.estimation.parallel import estimate_in_parts
    from batchcost.pricing import load_prices

    prices = load_prices([])
    get_encoding("o200k_base")
    start = time.perf_counter()
    if jobs > 1:
        estimate_in_parts(path, prices, forecast=OutputForecast(), jobs=jobs)
    else:
        estimate_plan(path, prices)
    return time.perf_counter() - start


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return pids


def _watch_rss(pid: int, peak: dict, stop: threading.Event) -> None:
    """Peak memory of the process tree: the sum of PSS (shared pages split between the processes sharing them,
    so the tokenizer forked workers share is not counted once per worker), and of RSS for comparison."""
    while not stop.is_set():
        pss = rss = 0
        for p in _tree(pid):
            try:
                with open(f"/proc/{p}/smaps_rollup") as fh:
                    for row in fh:
                        if row.startswith("Pss:"):
                            pss += int(row.split()[1])
                        elif row.startswith("Rss:"):
                            rss += int(row.split()[1])
            except OSError:
                pass
        peak["rss"] = max(peak["rss"], pss)
        peak["rss_sum"] = max(peak.get("rss_sum", 0), rss)
        time.sleep(0.02)


_TEXTS: list[str] = []


def _raw_part(lo: int, hi: int) -> int:
    enc = get_encoding("o200k_base")
    return sum(len(enc.encode_ordinary(t)) for t in _TEXTS[lo:hi])


def raw_in_processes(path: Path, jobs: int) -> float:
    """The machine's ceiling: the same raw tokenization split over ``jobs`` forked processes (no I/O, no JSON)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _TEXTS[:] = [json.loads(line)["body"]["messages"][0]["content"] for line in path.open()]
    step = -(-len(_TEXTS) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        start = time.perf_counter()
        list(pool.map(_raw_part, range(0, len(_TEXTS), step), range(step, len(_TEXTS) + step, step)))
        seconds = time.perf_counter() - start
    _TEXTS.clear()
    return seconds


def raw_tiktoken(path: Path) -> tuple[int, float, float]:
    """Single-threaded encode_ordinary over the plan's texts (already in memory), and tiktoken's own threads."""
    enc = get_encoding("o200k_base")
    texts = [json.loads(line)["body"]["messages"][0]["content"] for line in path.open()]
    start = time.perf_counter()
    total = sum(len(enc.encode_ordinary(t)) for t in texts)
    single = time.perf_counter() - start
    start = time.perf_counter()
    batched = sum(len(t) for t in enc.encode_ordinary_batch(texts, num_threads=os.cpu_count() or 1))
    threads = time.perf_counter() - start
    assert batched == total
    return total, single, threads


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default=None, help="where to write the generated plans (default: a temp dir)")
    parser.add_argument("--mb", type=int, default=50, help="size of the speed plans in MB")
    parser.add_argument("--big", action="store_true", help="also measure memory on a 1 GB plan")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions of the unique-text runs")
    parser.add_argument("--gemini-only", action="store_true", help="only the Gemini row (5)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    folder = Path(args.dir or tempfile.mkdtemp(prefix="batchcost-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"machine: {cores} cores, python {sys.version.split()[0]}, tiktoken {tiktoken.__version__}")
    if args.gemini_only:
        return gemini(folder, args.mb, cores, args.reps)

    realistic = folder / "realistic.jsonl"
    n = write_plan(realistic, args.mb << 20, "realistic")
    base_tokens, base_s = baseline_cookbook(realistic)
    our_tokens, our_s, _ = ours(realistic, 1)
    our_tokens_n, our_s_n, _ = ours(realistic, cores)
    lib_1, lib_n = ours_in_process(realistic, 1), ours_in_process(realistic, cores)
    assert our_tokens == our_tokens_n
    print(f"\n1. realistic plan: {n:,} requests, {realistic.stat().st_size / 1e6:.0f} MB, shared system prompt + 4 "
          f"tools")
    print(f"   cookbook loop (in process)       {base_s:7.2f} s  ({base_tokens:,} tokens)")
    print(f"   batchcost library, 1 process     {lib_1:7.2f} s  -> {base_s / lib_1:.1f}x faster  (target >= 3x)")
    print(f"   batchcost library, {cores} processes   {lib_n:7.2f} s  -> {base_s / lib_n:.1f}x faster")
    print(f"   batchcost estimate CLI, 1 proc   {our_s:7.2f} s  -> {base_s / our_s:.1f}x  (with interpreter start-up)")
    print(f"   batchcost estimate CLI, {cores} procs  {our_s_n:7.2f} s  -> {base_s / our_s_n:.1f}x")
    if base_tokens != our_tokens:
        print(f"   note: the counts differ by {our_tokens - base_tokens:+,}: batchcost renders tools as "
              "their TypeScript namespace with fitted constants and counts reasoning/response_format rules, which the "
              "cookbook loop does not")

    for kind, label in (("unique", "short unique texts (50-400 words)"), ("documents", "unique documents "
                                                                                          "(500-2,000 words)")):
        unique = folder / f"{kind}.jsonl"
        n = write_plan(unique, args.mb << 20, kind, seed=2)
        raws, libs, ceilings = [], [], []
        for _ in range(args.reps):  # interleaved: a noisy neighbour slows all three alike
            raw_tokens, raw_s, thread_s = raw_tiktoken(unique)
            raws.append(raw_s)
            libs.append(ours_in_process(unique, cores))
            ceilings.append(raw_in_processes(unique, cores))
        ours_tokens, ours_s, _ = ours(unique, cores)
        assert ours_tokens == raw_tokens + 7 * n, (ours_tokens, raw_tokens, n)  # 3 per message + role + primer
        raw_s, lib_s, ceiling_s = (statistics.median(v) for v in (raws, libs, ceilings))
        ratios = sorted(r / lib / cores for r, lib in zip(raws, libs))
        mb = unique.stat().st_size / 1e6
        print(f"\n2. {label}: {n:,} requests, {mb:.0f} MB (median of {args.reps} interleaved runs)")
        print(f"   raw encode_ordinary, 1 thread       {raw_s:7.2f} s  ({raw_tokens / raw_s / 1e6:.2f} M tokens/s)")
        print(f"   encode_ordinary_batch, {cores} threads   {thread_s:7.2f} s  -> {raw_s / thread_s:.2f}x")
        print(f"   raw encode_ordinary, {cores} processes   {ceiling_s:7.2f} s  -> {raw_s / ceiling_s:.2f}x = "
              f"{raw_s / ceiling_s / cores:.2f} x cores  (this machine's ceiling: no I/O, no JSON)")
        print(f"   batchcost (library), {cores} processes  {lib_s:7.2f} s  -> {raw_s / lib_s:.2f}x = "
              f"{raw_s / lib_s / cores:.2f} x cores  (target >= 0.85 x cores; runs {ratios[0]:.2f}-{ratios[-1]:.2f})")
        print(f"   batchcost estimate CLI, {cores} procs   {ours_s:7.2f} s  -> {raw_s / ours_s:.2f}x = "
              f"{raw_s / ours_s / cores:.2f} x cores  (with interpreter start-up and JSON output)")

    print("\n3. memory: peak RSS of `batchcost estimate` (process + workers)")
    sizes = [100] + ([1024] if args.big else [])
    for size in sizes:
        plan = folder / f"memory-{size}mb.jsonl"
        if not plan.exists() or plan.stat().st_size < (size << 20):
            write_plan(plan, size << 20, "unique", seed=3)
        for jobs in (1, cores):
            _, seconds, pss = ours(plan, jobs)
            rss = peak_mb[plan.name, jobs][1]
            print(f"   {size:5d} MB plan, {jobs} process(es): {pss:6.0f} MB peak PSS ({rss:.0f} MB RSS summed), "
                  f"{seconds:6.1f} s  (target < 300 MB)")
    gemini(folder, args.mb, cores, args.reps)
    if args.big:
        sampling(folder / "memory-1024mb.jsonl", folder / "sample-10gb.jsonl", cores)
    print(f"\nplans in {folder}")


def _raw_gemma_part(lo: int, hi: int) -> int:
    encode = _gemma_texts["encode"]
    return sum(len(encode(t, add_special_tokens=False)) for t in _gemma_texts["texts"][lo:hi])


_gemma_texts: dict = {}


def gemini(folder: Path, mb: int, cores: int, reps: int) -> None:
    """5. Gemini: batchcost's exact Gemma 3 counting of a Gemini batch plan against raw Hugging Face tokenizers
    encoding of the same texts (already in memory, one thread), in the same run."""
    from batchcost.core.options import ReadOptions
    from batchcost.estimation.estimate import estimate_plan
    from batchcost.estimation.forecast import OutputForecast
    from batchcost.estimation.parallel import estimate_in_parts
    from batchcost.pricing import load_prices
    from batchcost.tokens.encodings import vocabulary

    plan = folder / "gemini.jsonl"
    n = write_plan(plan, mb << 20, "gemini", seed=4)
    texts = [json.loads(line)["request"]["contents"][0]["parts"][0]["text"] for line in plan.open()]
    encode = vocabulary("gemma3").encode
    _gemma_texts.update(texts=texts, encode=encode)
    options = ReadOptions(model="gemini-2.5-flash")  # a Gemini batch line names no model
    prices = load_prices([])
    raws, libs, ceilings = [], [], []
    for _ in range(reps):
        start = time.perf_counter()
        raw_tokens = sum(len(encode(t, add_special_tokens=False)) for t in texts)
        raws.append(time.perf_counter() - start)
        start = time.perf_counter()
        estimate = estimate_in_parts(plan, prices, forecast=OutputForecast(), jobs=cores, options=options)
        libs.append(time.perf_counter() - start)
        import multiprocessing

        step = -(-len(texts) // cores)
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(cores) as pool:
            assert sum(pool.starmap(_raw_gemma_part, [(i, i + step) for i in range(0, len(texts), step)])) == raw_tokens
        ceilings.append(time.perf_counter() - start)
    billed = raw_tokens + len(texts)  # Gemini 2.5 bills a token a content beyond the text (one content a line)
    assert estimate.input_tokens == billed, (estimate.input_tokens, billed)
    start = time.perf_counter()
    assert estimate_plan(plan, prices, options=options).input_tokens == billed
    one = time.perf_counter() - start
    _, cli_s, pss = ours(plan, cores, "--model", "gemini-2.5-flash")
    raw_s, lib_s, ceiling_s = (statistics.median(v) for v in (raws, libs, ceilings))
    ratios = sorted(r / lib / cores for r, lib in zip(raws, libs))
    print(f"\n5. Gemini batch plan, unique texts (50-400 words): {n:,} requests, {plan.stat().st_size / 1e6:.0f} MB, "
          f"exact Gemma 3 counts (median of {reps})")
    print(f"   raw tokenizers encode, 1 thread      {raw_s:7.2f} s  ({raw_tokens / raw_s / 1e6:.2f} M tokens/s)")
    print(f"   raw tokenizers encode, {cores} processes  {ceiling_s:7.2f} s  -> {raw_s / ceiling_s / cores:.2f} x "
          f"cores "
          "(this machine's ceiling)")
    print(f"   batchcost library, 1 process         {one:7.2f} s  -> {raw_s / one:.2f}x")
    print(f"   batchcost library, {cores} processes      {lib_s:7.2f} s  -> {raw_s / lib_s:.2f}x = "
          f"{raw_s / lib_s / cores:.2f} x cores  (target >= 0.85 x cores; runs {ratios[0]:.2f}-{ratios[-1]:.2f})")
    print(f"   batchcost estimate CLI, {cores} procs    {cli_s:7.2f} s; peak {pss:.0f} MB PSS (vocabulary load "
          "included)")


def sampling(one_gb: Path, ten_gb: Path, cores: int) -> None:
    """--sample on a 10 GB plan whose true totals are known: the 1 GB plan ten times over, counted in full once."""
    ours(one_gb, cores)
    truth = last_output[one_gb.name]
    tokens, requests = 10 * truth["input_tokens"], 10 * truth["plan"]["requests"]
    if not ten_gb.exists() or ten_gb.stat().st_size != 10 * one_gb.stat().st_size:
        with ten_gb.open("wb") as out, one_gb.open("rb") as src:
            for _ in range(10):
                src.seek(0)
                shutil.copyfileobj(src, out, 1 << 24)
    print(f"\n4. --sample on a {ten_gb.stat().st_size / 1e9:.1f} GB plan (the 1 GB plan x10: true input tokens "
          f"{tokens:,}, requests {requests:,})")
    try:
        for spec in ("10000", "1%"):
            _, seconds, _ = ours(ten_gb, cores, "--sample", spec, "--seed", "7")
            sample = last_output[ten_gb.name]["sample"]
            t, r = sample["input_tokens"], sample["requests"]
            inside = t["low"] <= tokens <= t["high"] and r["low"] <= requests <= r["high"]
            print(f"   --sample {spec:>6}: {seconds:5.1f} s, {sample['draws']:,} draws, input tokens {t['estimate']:,} "
                  f"[{t['low']:,}, {t['high']:,}] -> truth {'inside' if inside else 'OUTSIDE'} the 95% interval "
                  f"({(t['estimate'] - tokens) / tokens:+.3%})")
    finally:
        ten_gb.unlink()  # 10 GB of temp space back


if __name__ == "__main__":
    main()
