"""Reconcile: what the batch really cost, why it differed from the estimate, and what to retry.

Plan, output and error lines are joined on custom_id (results arrive in any order). Actual cost covers the
succeeded lines at the batch tier through the one cost function: uncached input, cached input and output each at
its own rate. ``prompt_tokens`` already includes the cached tokens and ``completion_tokens`` the reasoning tokens:
nothing is counted twice. The estimate is recomputed for the same succeeded lines, so the two compare like for like.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from batchcost import providers
from batchcost.core.atomic import atomic_writer
from batchcost.core.errors import BadInput, UsageError
from batchcost.core.inputs import check_input_file, json_problem, read_json_file
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import Usage
from batchcost.estimation.forecast import OutputForecast, forecast_output
from batchcost.lifecycle.calibration import Calibration, Observation
from batchcost.plans.counts import PlanCounter
from batchcost.plans.reader import read_plan
from batchcost.pricing.cost import display_money, exact_money, money, price_tokens
from batchcost.pricing.tables import PriceTable


@dataclass
class Planned:
    line: int
    model: str
    family: str
    fingerprint: str
    input_tokens: int
    out: tuple[int, int | None, int | None]  # forecast low, expected, high
    band: tuple[int, int] | None = None  # an approximate count's stated band (low, high); None when exact
    status: str = "missing"  # succeeded, failed, expired, cancelled, missing
    usage: Usage | None = None
    error: str | None = None
    image_input_tokens: int = 0  # image models: the estimate's image input tokens (its output is all image tokens)
    image: bool = False
    video: tuple | None = None  # video models: the planned (size, seconds)

    @property
    def billed(self) -> Usage:
        """The usage of a succeeded request (its result line carried it)."""
        if self.usage is None:
            raise ValueError(f"line {self.line}: a {self.status} request has no usage")
        return self.usage


@dataclass
class Issue:
    path: str
    line: int
    message: str

    def as_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "message": self.message}

    def one_line(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class Reconciliation:
    plan: dict
    counts: dict
    actual: dict
    estimated: dict
    delta: dict
    by_model: list[dict]
    explanations: list[str]
    issues: list[Issue]
    retry: dict | None
    rows: list[dict] = field(default_factory=list, repr=False)
    input_mismatches: int = 0
    prices_at: str | None = None  # the date whose prices were used (None: today's)

    def as_dict(self) -> dict:
        return {"plan": self.plan, "requests": self.counts, "actual": self.actual, "estimated": self.estimated,
                "delta": self.delta, "by_model": self.by_model, "explanations": self.explanations,
                "issues": [i.as_dict() for i in self.issues], "retry": self.retry,
                **({"prices_at": self.prices_at} if self.prices_at else {})}


def _result_lines(path: Path, issues: list[Issue], id_field: str | None = "custom_id") -> Iterator[tuple[int, dict]]:
    check_input_file(path, BadInput, "results file")
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise BadInput("no such results file", path=path) from None
    except OSError as exc:
        raise BadInput(f"cannot read the results: {exc.strerror}", path=path) from None
    with fh:
        for number, raw in enumerate(fh, start=1):
            text = raw.strip()
            if number == 1 and text.startswith(b"\xef\xbb\xbf"):
                text = text[3:]
            if not text:
                continue
            obj, problem = json_problem(text)
            if problem is not None:
                issues.append(Issue(str(path), number, f"not a JSON line: {problem}"))
                continue
            if id_field is None:  # the result echoes its request instead (the provider's echo_key joins it)
                if not isinstance(obj, dict):
                    issues.append(Issue(str(path), number, "a result line must be an object"))
                    continue
            elif not isinstance(obj, dict) or not isinstance(obj.get(id_field), str):
                issues.append(Issue(str(path), number, f"a result line must be an object with a {id_field}"))
                continue
            yield number, obj


def _estimate_doc(path: str | Path) -> dict:
    """An estimate file (``estimate --format json``), checked for the parts reconcile uses."""
    doc = read_json_file(path, BadInput, "estimate")
    shape = "an object with plan.sha256 and output_tokens.basis (the output of `batchcost estimate --format json`)"
    if not isinstance(doc, dict) or not isinstance(doc.get("plan"), dict) or not isinstance(
            doc.get("output_tokens", {}), dict):
        raise BadInput(f"not a batchcost estimate: expected {shape}", path=path)
    sha = doc["plan"].get("sha256")
    if sha is not None and not isinstance(sha, str):
        raise BadInput("not a batchcost estimate: plan.sha256 must be a string", path=path)
    return doc


def _forecast_from(estimate_json: dict | None, default: OutputForecast,
                   path: str | Path | None = None) -> OutputForecast:
    if not estimate_json:
        return default
    out = estimate_json.get("output_tokens") or {}
    spec = out.get("per_request") if out.get("basis") == "fixed" else out.get("basis", "max")
    try:
        return OutputForecast.parse(spec)
    except UsageError as exc:
        raise BadInput(f"not a usable estimate: output_tokens: {exc.message}", path=path) from None


@exact_money
def reconcile(plan: str | Path, results: str | Path | None, prices: PriceTable, *, errors: str | Path | None = None,
              estimate_json: str | Path | None = None, retry_file: str | Path | None = None,
              forecast: OutputForecast = OutputForecast(), calibrate: bool = True,
              options: ReadOptions = PLAIN) -> Reconciliation:
    plan = Path(plan)
    estimate_doc = None
    if estimate_json is not None:
        estimate_doc = _estimate_doc(estimate_json)
    forecast = _forecast_from(estimate_doc, forecast, estimate_json)

    # 1. the plan: what was asked, and what we estimated for each request
    digest = hashlib.sha256()
    counter = PlanCounter(base_dir=plan.parent, fingerprints=True)
    planned: dict[str, Planned] = {}
    endpoint = None
    provider = None
    echoes: dict[str, list[str]] = {}  # a request's content -> its plan lines' ids, for results that echo it
    for item in read_plan(plan, digest=digest, options=options):
        provider = provider or providers.get(item.provider)
        if provider.id_field is None:  # the line as written, not the neutral body
            echoes.setdefault(provider.echo_key(json.loads(item.raw)), []).append(item.custom_id)
        record = counter.count_line(item, plan)
        endpoint = endpoint or item.url
        bound = record.max_output_tokens
        if bound is None:
            bound = counter.model_info(record.model, record.provider).max_output_tokens
        out = forecast_output(record, forecast, bound)
        planned[item.custom_id] = Planned(item.line, record.model, record.family, record.fingerprint,
                                          record.input_tokens, out,
                                          None if record.input_low is None else (record.input_low, record.input_high
                                                                                      if record.input_high is not None
                                                                                      else record.input_tokens),
                                          image_input_tokens=record.image_input_tokens,
                                          image=record.image_output is not None, video=record.video)
    sha = digest.hexdigest()
    if estimate_doc is not None and (estimate_doc.get("plan") or {}).get("sha256") not in (None, sha):
        raise BadInput(f"the estimate is for another plan (sha256 {estimate_doc['plan']['sha256'][:12]}…, this plan "
                       f"{sha[:12]}…)", path=estimate_json)

    # 2. outputs and errors, joined on the request id (custom_id; Gemini's key)
    id_field = provider.id_field if provider is not None else "custom_id"
    repeated = {key for key, ids in echoes.items() if len(ids) > 1}
    by_order = 0
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    matched = lines = 0
    for path in (results, errors):
        if path is None:
            continue
        for number, obj in _result_lines(Path(path), issues, id_field):
            lines += 1
            where = f"{path}:{number}"
            if id_field is None:
                assert provider is not None  # only a provider's lines go without an id
                try:
                    key = provider.echo_key(obj)
                except ValueError as exc:
                    issues.append(Issue(str(path), number, str(exc)))
                    continue
                same = echoes.get(key)
                if not same:
                    issues.append(Issue(str(path), number, "its request is not in the plan" if same is None else
                                        "its request appears more often in the results than in the plan"))
                    continue
                by_order += key in repeated  # identical requests: joined in the order they come
                cid = same.pop(0)
            else:
                cid = obj[id_field]
            if cid not in planned:
                issues.append(Issue(str(path), number, f"{id_field} {cid!r} is not in the plan"))
                continue
            matched += 1
            if cid in seen:
                issues.append(Issue(str(path), number, f"{id_field} {cid!r} already appeared at {seen[cid]}"))
                continue
            seen[cid] = where
            _classify(planned[cid], obj, endpoint or "", provider, issues, str(path), number)
    if lines and not matched:
        raise BadInput(f"no {id_field or 'request'} of the results is in the plan: the results belong to another plan",
                       path=results or errors)

    # 3. totals, like for like over the succeeded lines
    result = _totals(planned, prices, {"path": str(plan), "sha256": sha}, issues)
    if by_order:
        result.explanations.append(f"{by_order:,} result(s) echo a request that several plan lines hold; they were "
                                   "joined to those lines in the order they come")
    if calibrate:
        _calibrate(planned, sha)
    if retry_file is not None:
        result.retry = _write_retry(plan, planned, Path(retry_file), prices, options)
    return result


def _classify(p: Planned, obj: dict, endpoint: str, provider, issues: list[Issue], path: str, number: int) -> None:
    """One result line into its request's status and usage, through the plan's provider."""
    try:
        outcome = provider.classify(obj, endpoint)
        p.status, p.usage, p.error = outcome.status, outcome.usage, outcome.error
    except ValueError as exc:
        issues.append(Issue(path, number, str(exc)))
        p.status, p.error = "failed", "unusable line"


def _totals(planned: dict[str, Planned], prices: PriceTable, plan: dict, issues: list[Issue]) -> Reconciliation:
    counts = {"planned": len(planned), "succeeded": 0, "failed": 0, "expired": 0, "missing": 0}
    actual: dict[str, Any] = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0, "reasoning_tokens": 0}
    est_input, est_out, est_cost, high_known = 0, [0, 0, 0], [Decimal(0)] * 3, True
    actual_cost = Decimal(0)
    per_model: dict[str, dict] = {}
    rows, mismatches, first_mismatch = [], 0, None
    for cid, p in planned.items():
        counts[p.status] = counts.get(p.status, 0) + 1  # "cancelled" appears where a provider reports it
        if p.status != "succeeded":
            continue
        u = p.billed
        price = prices.lookup(p.model)
        lc = price.long_context
        long_actual = lc is not None and u.input_tokens > lc.above_input_tokens
        long_est = lc is not None and p.input_tokens > lc.above_input_tokens
        cost = price_tokens(price, "batch", input_tokens=u.input_tokens, cached_input_tokens=u.cached_tokens,
                            cache_write_tokens=u.cache_write_tokens, cache_write_1h_tokens=u.cache_write_1h_tokens,
                            output_tokens=u.output_tokens, long_context=long_actual,
                            image_input_tokens=u.image_input_tokens,
                            image_output_tokens=u.image_output_tokens,
                            video_seconds=u.video_seconds, video_size=u.video_size)
        planned_video = {} if p.video is None else {"video_size": p.video[0], "video_seconds": p.video[1]}
        estimated = [None if o is None else price_tokens(price, "batch", input_tokens=p.input_tokens,
                                                         output_tokens=o, long_context=long_est,
                                                         image_input_tokens=p.image_input_tokens,
                                                         image_output_tokens=o if p.image else 0, **planned_video)
                     for o in p.out]
        actual_cost += cost
        for key, value in (("input_tokens", u.input_tokens), ("cached_input_tokens", u.cached_tokens),
                           ("output_tokens", u.output_tokens), ("reasoning_tokens", u.reasoning_tokens)):
            actual[key] += value
        writes = u.cache_write_tokens + u.cache_write_1h_tokens
        if writes or "cache_write_input_tokens" in actual:
            actual["cache_write_input_tokens"] = actual.get("cache_write_input_tokens", 0) + writes
        est_input += p.input_tokens
        for i in range(3):
            figure, priced = p.out[i], estimated[i]
            if figure is None or priced is None:
                high_known = high_known and i != 2
                continue
            est_out[i] += figure
            est_cost[i] += priced
        m = per_model.setdefault(p.model, {"model": p.model, "succeeded": 0, "actual_cost": Decimal(0),
                                           "estimated_cost": Decimal(0), "input_tokens": 0, "output_tokens": 0})
        m["succeeded"] += 1
        m["actual_cost"] += cost
        m["estimated_cost"] += estimated[1] or Decimal(0)
        m["input_tokens"] += u.input_tokens
        m["output_tokens"] += u.output_tokens
        if p.band is None and u.input_tokens != p.input_tokens:  # an approximation is judged by its band
            mismatches += 1
            first_mismatch = first_mismatch or (cid, p.input_tokens, u.input_tokens)
        rows.append({"custom_id": cid, "model": p.model, "estimated_input": p.input_tokens,
                     "actual_input": u.input_tokens, "cached": u.cached_tokens, "forecast_expected": p.out[1],
                     "forecast_high": p.out[2], "actual_output": u.output_tokens, "cost": cost})
    summary = {"input_tokens": est_input,
               "output_tokens": {"low": est_out[0], "expected": est_out[1], "high": est_out[2] if high_known else None},
               "cost": {"low": money(est_cost[0]), "expected": money(est_cost[1]),
                        "high": money(est_cost[2]) if high_known else None}}
    delta_cost = actual_cost - est_cost[1]
    percent = None if est_cost[1] == 0 else (delta_cost / est_cost[1] * 100).quantize(Decimal("0.1"))
    delta = {"input_tokens": actual["input_tokens"] - est_input,
             "output_tokens": actual["output_tokens"] - est_out[1], "cost": money(delta_cost),
             "cost_percent": None if percent is None else format(percent, "f")}
    actual["cost"] = money(actual_cost)
    result = Reconciliation(plan=plan, counts=counts, actual=actual, estimated=summary, delta=delta,
                            by_model=[{**m, "actual_cost": money(m["actual_cost"]),
                                       "estimated_cost": money(m["estimated_cost"])} for m in per_model.values()],
                            explanations=[], issues=issues, retry=None, rows=rows, input_mismatches=mismatches)
    result.explanations = _explain(result, est_out[1], first_mismatch, planned, prices)
    return result


def _explain(r: Reconciliation, expected_out: int, first_mismatch, planned, prices) -> list[str]:
    out = []
    if r.counts["succeeded"]:
        share = "" if not expected_out else f" ({r.actual['output_tokens'] / expected_out:.0%} of the forecast)"
        out.append(f"output: {r.actual['output_tokens']:,} tokens billed vs {expected_out:,} expected{share}"
                   + (f", {r.actual['reasoning_tokens']:,} of them reasoning" if r.actual["reasoning_tokens"] else ""))
    if r.actual["cached_input_tokens"]:
        saved = sum((price_tokens(prices.lookup(row["model"]), "batch", input_tokens=row["cached"])
                     - price_tokens(prices.lookup(row["model"]), "batch", input_tokens=row["cached"],
                                    cached_input_tokens=row["cached"]) for row in r.rows if row["cached"]),
                    Decimal(0))
        out.append(f"cache: {r.actual['cached_input_tokens']:,} input tokens were cache hits, saving "
                   f"{display_money(saved)} against the estimate (which assumes none)")
    cancelled = r.counts.get("cancelled", 0)
    not_done = r.counts["failed"] + r.counts["expired"] + r.counts["missing"] + cancelled
    if not_done:
        out.append(f"unfinished: {r.counts['failed']:,} failed, {r.counts['expired']:,} expired, "
                   + (f"{cancelled:,} cancelled " if cancelled else "")
                   + f"and {r.counts['missing']:,} missing requests were not billed; they are in the retry plan")
    banded = [(p, p.billed.input_tokens) for p in planned.values() if p.status == "succeeded" and p.band]
    if banded:
        estimated = sum(p.input_tokens for p, _ in banded)
        billed = sum(b for _, b in banded)
        low, high = sum(p.band[0] for p, _ in banded), sum(p.band[1] for p, _ in banded)
        inside = sum(1 for p, b in banded if p.band[0] <= b <= p.band[1])
        share = "" if not estimated else f" ({(billed - estimated) / estimated:+.1%})"
        out.append(f"input (approximate counts): {billed:,} tokens billed vs {estimated:,} estimated{share}, "
                   f"{'inside' if low <= billed <= high else 'OUTSIDE'} the stated band {low:,} to {high:,}; "
                   f"{inside:,} of {len(banded):,} requests inside their own band. This is the count's error, "
                   "apart from the output forecast's")
    exact = r.counts["succeeded"] - len(banded)
    if r.input_mismatches:
        cid, estimated, billed = first_mismatch
        out.append(f"INPUT COUNT MISMATCH on {r.input_mismatches:,} request(s) (first: {cid}, estimated {estimated:,},"
                   f" billed {billed:,}): the counting rules for this model need attention")
    elif exact and not banded:
        out.append(f"input: every succeeded request was billed exactly the {r.estimated['input_tokens']:,} input "
                   "tokens estimated")
    elif exact:
        out.append(f"input: the {exact:,} request(s) counted exactly were billed exactly as estimated")
    return out


def _calibrate(planned: dict[str, Planned], sha: str) -> None:
    observations = [Observation(p.family, p.fingerprint, cid, p.billed.input_tokens, p.billed.cached_tokens,
                                p.billed.output_tokens, p.billed.reasoning_tokens)
                    for cid, p in planned.items() if p.status == "succeeded"]
    counts = [(p.family, cid, p.input_tokens, p.billed.input_tokens) for cid, p in planned.items()
              if p.status == "succeeded" and p.band is not None]
    if observations:
        store = Calibration()
        store.record(sha, observations, dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())
        if counts:
            store.record_counts(sha, counts)


def _write_retry(plan: Path, planned: dict[str, Planned], path: Path, prices: PriceTable,
                 options: ReadOptions = PLAIN) -> dict:
    """The plan lines of failed, expired and missing requests, byte for byte, and their own estimate."""
    wanted = {cid for cid, p in planned.items() if p.status != "succeeded"}
    count = 0
    with atomic_writer(path) as fh:
        for item in read_plan(plan, options=options):
            if item.custom_id in wanted:
                fh.write(item.raw + b"\n")
                count += 1
    retry: dict[str, Any] = {"path": str(path), "requests": count}
    if count:
        from batchcost.estimation.estimate import estimate_plan, priced

        e = estimate_plan(path, prices, options=options)
        retry["estimate"] = {"batch": {k: money(v) for k, v in priced(e.cost, "batch").items()},
                             "sha256": e.plan["sha256"]}
    return retry


def percent_note(delta: dict) -> str:
    """`` (+12.5%)`` after a cost difference, or nothing where the estimate was $0 (no percentage of nothing)."""
    return "" if delta.get("cost_percent") is None else f" ({delta['cost_percent']}%)"


def usage_crosscheck(reported: Usage, actual: dict) -> str:
    """One sentence comparing what the batch objects report they used (``batch_usage``, summed over the waves)
    with what their result lines add up to (``Reconciliation.actual``)."""
    pairs = [("input", reported.input_tokens, actual["input_tokens"]),
             ("output", reported.output_tokens, actual["output_tokens"]),
             ("cached input", reported.cached_tokens, actual["cached_input_tokens"])]
    off = [(name, mine, lines) for name, mine, lines in pairs if mine != lines]
    if not off:
        return (f"the batch's own usage agrees with its result lines ({reported.input_tokens:,} input, "
                f"{reported.output_tokens:,} output tokens)")
    return ("the batch's own usage differs from the sum of its result lines: " + "; ".join(
        f"{name} {mine:,} reported, {lines:,} in the lines ({lines - mine:+,})" for name, mine, lines in off)
        + " (lines missing from the files, or usage the results do not show)")
