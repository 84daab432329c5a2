"""``--online``: input counts asked of the provider's own free counting endpoint, exactly.

Nothing is sent without ``--online``. Identical requests (the same counted body) are asked once; requests are asked
a few at a time in plan order; a refused or dropped call is retried by the SDK and then, for rate limits and
server errors, resumed after a growing pause, so a long plan survives a provider's per-minute limit. A server that
cannot be reached is one error, at once.

``--sample N|P%`` asks for a uniform random sample of the plan's requests: every other request keeps its offline
count, and the total is extrapolated by the ratio estimator (the sample's online / offline ratio times the plan's
offline total; Cochran, *Sampling Techniques*, 6.3) with a 95% interval. ``estimate --online --sample`` instead
reuses the sampling estimator (``estimation.sampling``), which reads only the sampled lines.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from batchcost.core.errors import RemoteError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.plans.counts import CountedRequest

Z95 = 1.959963984540054
WINDOW = 64  # requests read ahead of the one being printed


@dataclass
class Resume:
    """How long to wait after the SDK's own retries gave up on a rate limit or a server error, and how often."""

    first: float = 5.0
    longest: float = 60.0
    attempts: int = 8


class OnlineCounts:
    """Exact input counts from the provider's counting endpoint, memoised by request content."""

    def __init__(self, *, base_url: str | None = None, workers: int = 4, resume: Resume = Resume(),
                 ask: Callable[[dict], int] | None = None):
        self.base_url = base_url
        self.provider: str | None = None  # the plan's, from its first request (a plan has one provider)
        self._ask = ask
        self.workers = max(1, workers)
        self.resume = resume
        self.known: dict[str, int] = {}
        self.asked = self.reused = 0
        self.pairs: list[tuple[int, int]] = []  # (offline, online) of each verified request, for the ratio
        self.offline_total = self.requests = 0
        self.progress: Callable[[int], None] | None = None  # requests done, when no other callback is given
        self._said, self._last_said = threading.Lock(), 0.0
        self._stop = threading.Event()  # set when the run ends early (an interrupt, an error): pauses end at once

    def _start(self, record: CountedRequest) -> None:
        """The provider's counter, made (in the calling thread) when the first request is asked."""
        if self.provider is None:
            self.provider = record.provider
            if self._ask is None:
                from batchcost import providers

                self._ask = providers.get(record.provider).online_counter(base_url=self.base_url)

    @staticmethod
    def key(body: dict) -> str:
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False,
                                         separators=(",", ":")).encode()).hexdigest()

    def _ask_resuming(self, body: dict) -> int:
        """Ask once; a rate limit or a server error (the SDK's own retries spent) pauses and resumes. An
        unreachable server or a refused request is one error at once: waiting would not change it."""
        ask = self._ask
        if ask is None:
            raise RuntimeError("no counter yet: the first request starts it")
        wait = self.resume.first
        for attempt in range(self.resume.attempts + 1):
            try:
                return ask(body)
            except RemoteError as exc:
                status = getattr(exc, "status", None)
                if status is None or not (status == 429 or status >= 500) or attempt == self.resume.attempts:
                    raise
                with self._said:
                    if time.monotonic() - self._last_said > 1:  # one line per pause, whichever worker met it
                        print(f"{exc.message}; resuming in {wait:g} s", file=sys.stderr)
                        self._last_said = time.monotonic()
                if self._stop.wait(wait):  # the run ended meanwhile: this worker stops now, not after its pause
                    raise _Stopped() from None
                wait = min(wait * 2, self.resume.longest)
        raise AssertionError("unreachable")

    def verified(self, record: CountedRequest, tokens: int) -> CountedRequest:
        """The offline record with the provider's own count: exact, no band, no approximation notes."""
        self.pairs.append((record.input_tokens, tokens))
        prefix = min(record.prefix_tokens, tokens)
        return replace(record, input_tokens=tokens, approximate=False, basis="online", input_low=None,
                       input_high=None, notes=[], prefix_tokens=prefix)

    def one(self, record: CountedRequest, body: dict) -> CountedRequest:
        self._start(record)
        key = self.key(body)
        if key in self.known:
            self.reused += 1
        else:
            self.known[key] = self._ask_resuming(body)
            self.asked += 1
        return self.verified(record, self.known[key])

    def stream(self, pairs: Iterable[tuple[CountedRequest, dict | None]],
               progress: Callable[[int], None] | None = None) -> Iterator[CountedRequest]:
        """Records in plan order; a pair whose body is None keeps its offline count (not in the sample)."""
        progress = progress or self.progress
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="count-online")
        self._stop.clear()
        try:
            window: list[tuple[CountedRequest, str | None]] = []
            pending: dict = {}

            def drain(keep: int) -> Iterator[CountedRequest]:
                while len(window) > keep:
                    record, key = window.pop(0)
                    if key is not None:
                        if key in pending:
                            self.known[key] = pending.pop(key).result()
                        record = self.verified(record, self.known[key])
                    if progress is not None:
                        progress(1)
                    yield record

            for record, body in pairs:
                key = None
                self.requests += 1
                self.offline_total += record.input_tokens
                if body is not None:
                    self._start(record)
                    key = self.key(body)
                    if key in self.known or key in pending:
                        self.reused += 1
                    else:
                        pending[key] = pool.submit(self._ask_resuming, body)
                        self.asked += 1
                window.append((record, key))
                yield from drain(WINDOW)
            yield from drain(0)
        finally:
            # an interrupt or an error ends the run: queued requests are dropped and pausing workers wake and stop;
            # a call already on the wire is not waited for (the CLI exits at once; a library caller's thread
            # ends with that call)
            self._stop.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def summary(self) -> str:
        return (f"asked the {self.provider or 'provider'}'s counting endpoint for {self.asked:,} distinct request(s)"
                + (f" ({self.reused:,} identical one(s) reused)" if self.reused else ""))

    def as_dict(self) -> dict:
        return {"provider": self.provider, "asked": self.asked, "reused": self.reused,
                "verified_requests": len(self.pairs)}

    def total(self) -> dict:
        """The plan's input total as the provider would count it: exact when every request was verified, else the
        ratio estimate from the sample with its 95% interval."""
        return ratio_total(self.pairs, self.offline_total, self.requests)


class _Stopped(RemoteError):
    """A worker's pause cut short because the run ended (never reported: the run's own ending is)."""

    def __init__(self):
        super().__init__("stopped: the run ended")


def count_plan_online(path: str | Path, online: OnlineCounts, *, sample: str | None = None, seed: int | None = None,
                      encoding: str | None = None, assume_image_size: tuple[int, int] | None = None,
                      progress: Callable[[int], None] | None = None, options: ReadOptions = PLAIN,
                      corrections: Callable[[], dict] | None = None) -> Iterator[CountedRequest]:
    """``count --online``: every request (or a uniform sample of them) counted by the provider, in plan order;
    the offline counts beside them are corrected as ``corrections`` says (``PlanCounter``)."""
    from batchcost.plans.counts import PlanCounter
    from batchcost.plans.reader import read_plan

    path = Path(path)
    counter = PlanCounter(encoding=encoding, assume_image_size=assume_image_size, base_dir=path.parent,
                          corrections=corrections)
    chosen = None if sample is None else sample_lines(count_lines(path), sample, seed)

    def pairs():
        for i, item in enumerate(read_plan(path, options=options)):
            record = counter.count_line(item, path)
            yield record, (item.body if chosen is None or i in chosen else None)

    return online.stream(pairs(), progress)


def sample_lines(total: int, spec: str, seed: int | None) -> set[int]:
    """A uniform random sample of plan line indices (0-based) for ``--sample N|P%``."""
    from batchcost.estimation.sampling import parse_sample

    kind, value = parse_sample(spec)
    n = int(value) if kind == "n" else math.ceil(value / 100 * total)
    return set(random.Random(seed).sample(range(total), min(n, total)))


def ratio_total(pairs: list[tuple[int, int]], offline_total: int, population: int) -> dict:
    """The ratio estimate of a plan's online total from (offline, online) pairs of a simple random sample, with
    its 95% interval (finite-population corrected)."""
    n = len(pairs)
    if n == population:  # every request verified: the total is exact
        exact = sum(p[1] for p in pairs)
        return {"estimate": exact, "low": exact, "high": exact, "ratio": None, "sampled": n, "requests": n,
                "confidence": None}
    x = sum(p[0] for p in pairs)
    y = sum(p[1] for p in pairs)
    ratio = y / x if x else 1.0
    estimate = ratio * offline_total
    if n < 2:
        half = float(offline_total)  # one request says little: the interval is as wide as the total
    else:
        spread = sum((b - ratio * a) ** 2 for a, b in pairs) / (n - 1)
        half = Z95 * population * math.sqrt((1 - n / population) * spread / n)
    return {"estimate": round(estimate), "low": max(0, math.floor(estimate - half)), "high": math.ceil(estimate + half),
            "ratio": round(ratio, 6), "sampled": n, "requests": population, "confidence": 0.95}


def count_lines(path: Path) -> int:
    """Non-blank lines of a file, read in blocks (what the sample is drawn from)."""
    n = 0
    with Path(path).open("rb") as fh:
        for raw in fh:
            if raw.strip():
                n += 1
    return n
