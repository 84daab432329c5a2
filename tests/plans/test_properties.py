"""Property-based tests: arbitrary JSON never crashes the reader or the counter; counting is deterministic;
splitting a plan and counting the parts gives the same total."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchcost.core.errors import BatchcostError
from batchcost.plans.counts import PlanCounter, count_plan
from batchcost.plans.reader import parse_line
from batchcost.plans.split import split_plan
from batchcost.providers.openai.counting import Counter
from batchcost.tokens.models import resolve_model

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)

MODELS = ["gpt-4o-mini", "gpt-4", "o3-mini", "text-embedding-3-small", "gpt-3.5-turbo-instruct", "gpt-4.1-mini"]
URLS = ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions", "/v1/moderations"]
FIELDS = ["messages", "input", "prompt", "tools", "functions", "instructions", "response_format", "max_tokens", "n",
          "max_completion_tokens", "max_output_tokens", "text"]


@st.composite
def wild_lines(draw):
    body = {"model": draw(st.sampled_from(MODELS) | st.text(max_size=8))}
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=5, unique=True)):
        body[key] = draw(json_values)
    if draw(st.booleans()):
        body["messages"] = draw(st.lists(st.dictionaries(st.sampled_from(["role", "content", "name", "tool_calls"]),
                                                          json_values, max_size=3), max_size=3))
    line = {"custom_id": draw(st.text(max_size=6) | json_values), "method": "POST",
            "url": draw(st.sampled_from(URLS)), "body": body}
    for key in draw(st.lists(st.sampled_from(["custom_id", "method", "url", "body"]), max_size=2, unique=True)):
        line[key] = draw(json_values)
    return line


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wild_lines())
def test_arbitrary_json_never_crashes(line):
    raw = json.dumps(line).encode()
    counter = PlanCounter()
    try:
        item = parse_line(raw, Path("plan.jsonl"), 1)
        if item is not None:
            counter.count_line(item, Path("plan.jsonl"))
    except BatchcostError as exc:
        assert exc.path == "plan.jsonl" and exc.line == 1
        assert "\n" not in exc.one_line()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(raw):
    try:
        parse_line(raw, Path("plan.jsonl"), 1)
    except BatchcostError:
        pass


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
chat_bodies = st.builds(lambda system, user, name: {"model": "gpt-4o-mini", "messages": [
    {"role": "system", "content": system}, {"role": "user", "content": user, **({"name": name} if name else {})}]},
    texts, texts, st.none() | st.from_regex(r"[a-z]{1,8}", fullmatch=True))


@settings(max_examples=150, deadline=None)
@given(chat_bodies)
def test_counting_is_deterministic(body):
    info = resolve_model("gpt-4o-mini")
    first = Counter(info).count("/v1/chat/completions", body)
    second = Counter(info).count("/v1/chat/completions", json.loads(json.dumps(body)))
    assert first == second
    # the fast path and the general path agree
    general = Counter(info)
    general._plain_chat = lambda b: None
    assert general.count("/v1/chat/completions", body).input_tokens == first.input_tokens


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(chat_bodies, min_size=1, max_size=30), st.integers(1, 7))
def test_split_then_count_gives_the_same_total(bodies, per_wave):
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plan.jsonl"
        plan.write_text("".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                                            "body": b}) + "\n" for i, b in enumerate(bodies)))
        total = sum(r.input_tokens for r in count_plan(plan))
        waves = split_plan(plan, Path(tmp) / "waves", max_requests=per_wave)
        assert sum(sum(r.input_tokens for r in count_plan(w.path)) for w in waves) == total
        assert sum(w.input_tokens for w in waves) == total
