"""Hardening II, by class and generated: pathological JSON and YAML, output paths that collide with inputs, and
money at any number of digits. Whatever hypothesis builds, only a batchcost error (or a correct result) comes out,
and no input is ever changed."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchcost.cli.app import main
from batchcost.core.errors import BatchcostError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LINE = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 10}}


def run(*argv: str, cwd: Path) -> tuple[int, str]:
    """The real CLI in this process: (exit code, stderr)."""
    err = io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(list(argv))
            except SystemExit as exc:  # typer ends a command that succeeded this way
                code = exc.code or 0
    finally:
        os.chdir(old)
    return code, err.getvalue()


# -- JSON: deep, huge, or beyond what JSON allows ------------------------------------------------------------
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=6000).map(lambda n: "9" * max(1, n)),       # up to 6,000 digits
    st.integers(min_value=-1200, max_value=1200).map(lambda e: f"1.5e{e}"),        # exponents far out of range
    st.sampled_from(["NaN", "Infinity", "-Infinity", "-0", "1e400", "-1e-400"]),
    st.integers().map(str),
)


@st.composite
def pathological_json(draw) -> str:
    """A JSON-ish value: nested up to 3,000 deep, with numbers of any size and the tokens JSON forbids."""
    depth = draw(st.integers(min_value=0, max_value=3000))
    opener = draw(st.sampled_from(["[", '{"k": ']))
    closer = "]" if opener == "[" else "}"
    return opener * depth + draw(NUMBERS) + closer * depth


def _only_batchcost_errors(call) -> None:
    try:
        call()
    except BatchcostError as exc:
        assert "\n" not in exc.one_line()


@SETTINGS
@given(value=pathological_json(), field=st.sampled_from(["max_tokens", "temperature", "metadata", "messages", "n"]))
def test_pathological_json_in_a_plan_gives_only_batchcost_errors(value, field):
    from batchcost.estimation.estimate import estimate_plan
    from batchcost.plans.counts import count_plan
    from batchcost.pricing.tables import load_prices

    with tempfile.TemporaryDirectory() as folder:
        plan = Path(folder) / "plan.jsonl"
        plan.write_text(json.dumps(LINE).replace('"max_tokens": 10', f'"{field}": X').replace("X", value) + "\n")
        _only_batchcost_errors(lambda: list(count_plan(plan)))
        _only_batchcost_errors(lambda: estimate_plan(plan, load_prices()))


@SETTINGS
@given(value=pathological_json(), where=st.sampled_from(["text", "id"]))
def test_pathological_json_in_a_dataset_gives_only_batchcost_errors(value, where):
    from batchcost.plans.datasets import read_dataset

    with tempfile.TemporaryDirectory() as folder:
        jsonl, array = Path(folder) / "d.jsonl", Path(folder) / "d.json"
        jsonl.write_text(f'{{"{where}": {value}}}\n')
        array.write_text(f'[{{"{where}": {value}}}]')
        _only_batchcost_errors(lambda: list(read_dataset(jsonl)))
        _only_batchcost_errors(lambda: list(read_dataset(array)))


@SETTINGS
@given(value=pathological_json(), key=st.sampled_from(["prompt_tokens", "completion_tokens", "prompt_tokens_details"]))
def test_pathological_json_in_results_is_listed_and_the_rest_reconciled(value, key):
    from batchcost.lifecycle.reconcile import reconcile
    from batchcost.pricing.tables import load_prices

    with tempfile.TemporaryDirectory() as folder:
        plan, out = Path(folder) / "plan.jsonl", Path(folder) / "out.jsonl"
        plan.write_text(json.dumps(LINE) + "\n" + json.dumps({**LINE, "custom_id": "r2"}) + "\n")
        usage = {"prompt_tokens": 8, "completion_tokens": 3}
        good = {"custom_id": "r2", "response": {"status_code": 200, "body": {"usage": usage}}}
        bad = json.dumps({"custom_id": "r1", "response": {"status_code": 200, "body": {"usage": {**usage, key: "X"}}}})
        out.write_text(bad.replace('"X"', value) + "\n" + json.dumps(good) + "\n")
        r = reconcile(plan, out, load_prices(), calibrate=False)
        assert r.counts["succeeded"] >= 1  # the good line is always reconciled
        assert r.counts["succeeded"] == 2 or [i.line for i in r.issues] == [1]


@SETTINGS
@given(value=pathological_json(), where=st.sampled_from(["budget", "plan", "estimate"]))
def test_pathological_json_in_approvals_and_estimates_is_refused_in_one_line(value, where):
    from batchcost.core.errors import BudgetExceeded
    from batchcost.lifecycle.approval import load_approval
    from batchcost.lifecycle.reconcile import reconcile
    from batchcost.pricing.tables import load_prices

    with tempfile.TemporaryDirectory() as folder:
        plan, doc = Path(folder) / "plan.jsonl", Path(folder) / "doc.json"
        plan.write_text(json.dumps(LINE) + "\n")
        doc.write_text(f'{{"batchcost_approval": 1, "{where}": {value}, "output_tokens": {{"basis": "max"}}}}')
        with pytest.raises(BudgetExceeded):
            load_approval(doc, plan)
        results = Path(folder) / "out.jsonl"
        results.write_text(json.dumps({"custom_id": "r1", "response": {"status_code": 200, "body": {
            "usage": {"prompt_tokens": 8, "completion_tokens": 1}}}}) + "\n")
        _only_batchcost_errors(lambda: reconcile(plan, results, load_prices(), estimate_json=doc, calibrate=False))


# -- YAML: aliases, bombs, special values ------------------------------------------------------------------
SCALARS = st.sampled_from([".nan", ".NaN", ".inf", "-.inf", "2024-01-01", "2026-02-30", "2024-01-01 10:00:00",
                           "!!binary aGk=", "0x1F", "1e400", "1e-400", "~", "yes", '"text"', "1_000", "0.1", "-5",
                           "0.1234567890123456789012345678901234567890", "!!set {a, b}", "'{text}'"])


@st.composite
def yaml_with_aliases(draw) -> tuple[str, str]:
    """(anchors block, value): anchors a0..aN, each a list of `fan` references to the one before (or scalars)."""
    levels = draw(st.integers(min_value=0, max_value=12))
    fan = draw(st.integers(min_value=1, max_value=9))
    lines = [f"a0: &a0 [{', '.join(draw(st.lists(SCALARS, min_size=1, max_size=4)))}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    value = draw(st.one_of(SCALARS, st.just(f"*a{levels}"), st.just(f"{{x: *a{levels}, y: *a0}}")))
    return "\n".join(lines), value


@SETTINGS
@given(doc=yaml_with_aliases(), twice=st.booleans())
def test_templates_with_aliases_and_special_values_never_write_invalid_json(doc, twice):
    from batchcost.core.inputs import json_problem
    from batchcost.plans.datasets import Record
    from batchcost.plans.templates import TemplateError, load_template

    anchors, value = doc
    text = (f"{anchors}\nendpoint: /v1/chat/completions\nmodel: gpt-4o-mini\ncustom_id: \"r-{{id}}\"\nbody:\n"
            f"  messages: [{{role: user, content: \"{{text}}\"}}]\n  meta: {value}\n"
            + ("  meta: 1\n" if twice else ""))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.yaml"
        path.write_text(text)
        try:
            template = load_template(path)
        except TemplateError as exc:
            assert exc.line is not None or "twice" not in exc.message
            return
        assert not twice, "a key defined twice must be refused"
        _, body = template.render(Record(1, "r", {"id": "1", "text": "hi"}))
        raw = json.dumps(body, ensure_ascii=False, allow_nan=False)  # would raise on NaN or infinity
        assert json_problem(raw)[1] is None


@SETTINGS
@given(doc=yaml_with_aliases(), price=SCALARS)
def test_price_files_with_aliases_and_special_values_give_finite_prices_or_one_error(doc, price):
    from batchcost.pricing.tables import PriceFileError, parse_price_text

    anchors, value = doc
    text = (f"{anchors}\ncurrency: USD\nsource: test\nchecked_on: 2026-11-01\nmodels:\n"
            f"  gpt-4o-mini: {{input: {price}, output: 0.6, note: {value}}}\n")
    try:
        _, prices = parse_price_text(text, "p.yaml")
    except PriceFileError as exc:
        assert exc.path == "p.yaml"
        return
    rate = prices["gpt-4o-mini"].realtime.input
    assert isinstance(rate, Decimal) and rate.is_finite() and 0 <= rate <= 1_000_000


# -- outputs that collide with inputs, spelled every way ------------------------------------------------------
SPELLINGS = st.sampled_from(["same", "dot", "dotdot", "absolute", "hardlink", "symlink"])


def _spell(folder: Path, name: str, how: str) -> str:
    if how == "same":
        return name
    if how == "dot":
        return f"./{name}"
    if how == "dotdot":
        (folder / "sub").mkdir(exist_ok=True)
        return f"sub/../{name}"
    if how == "absolute":
        return str(folder / name)
    alias = f"alias-{how}-{name}"
    if not os.path.lexists(folder / alias):
        (os.link if how == "hardlink" else os.symlink)(folder / name if how == "hardlink" else name, folder / alias)
    return alias


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def _inputs(folder: Path) -> None:
    (folder / "plan.jsonl").write_text(json.dumps(LINE) + "\n" + json.dumps({**LINE, "custom_id": "r2"}) + "\n")
    (folder / "data.csv").write_text("id,text\n1,hello\n2,world\n")
    (folder / "t.yaml").write_text("endpoint: /v1/chat/completions\nmodel: gpt-4o-mini\ncustom_id: \"r-{id}\"\n"
                                   "body:\n  messages: [{role: user, content: \"{text}\"}]\n")
    (folder / "p.yaml").write_text("currency: USD\nsource: t\nchecked_on: 2026-11-01\nmodels:\n"
                                   "  gpt-4o-mini: {input: 0.15, output: 0.6}\n")
    (folder / "out.jsonl").write_text(json.dumps({"custom_id": "r1", "response": {"status_code": 200, "body": {
        "usage": {"prompt_tokens": 8, "completion_tokens": 3}}}}) + "\n")


COMMANDS = {  # command -> (its inputs, argv with OUT where the output goes)
    "plan": (["data.csv", "t.yaml"], ["plan", "data.csv", "-t", "t.yaml", "-o", "OUT"]),
    "plan-jobs": (["data.csv", "t.yaml"], ["plan", "data.csv", "-t", "t.yaml", "-o", "OUT", "--jobs", "2"]),
    "approve": (["plan.jsonl", "p.yaml"], ["approve", "plan.jsonl", "--budget", "5", "--by", "me", "--prices",
                                           "p.yaml", "-o", "OUT"]),
    "retry-file": (["plan.jsonl", "out.jsonl", "p.yaml"], ["reconcile", "plan.jsonl", "--results", "out.jsonl",
                                                           "--prices", "p.yaml", "--no-calibrate",
                                                           "--retry-file", "OUT"]),
}


@settings(max_examples=30, deadline=None)
@given(command=st.sampled_from(sorted(COMMANDS)), pick=st.integers(min_value=0, max_value=2), how=SPELLINGS)
def test_an_output_that_is_an_input_is_refused_and_nothing_changes(command, pick, how):
    inputs, argv = COMMANDS[command]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _inputs(folder)
        target = _spell(folder, inputs[pick % len(inputs)], how)
        before = _files(folder)
        code, err = run(*[target if a == "OUT" else a for a in argv], cwd=folder)
        assert code == 1, err
        assert "is also an input of this command" in err and err.count("\n") == 1, err
        assert _files(folder) == before
        assert not [p for p in folder.rglob("*") if p.name.startswith(".")]


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(["estimate.json", "report.html", "requests.csv", "report.md"]),
       source=st.sampled_from(["plan.jsonl", "p.yaml"]), how=st.sampled_from(["hardlink", "symlink"]))
def test_a_report_file_that_is_an_input_is_refused_before_any_work(name, source, how):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _inputs(folder)
        (folder / "rep").mkdir()
        if how == "hardlink":
            os.link(folder / source, folder / "rep" / name)
        else:
            os.symlink(folder / source, folder / "rep" / name)
        before = _files(folder)
        code, err = run("report", "plan.jsonl", "--prices", "p.yaml", "--out", "rep", cwd=folder)
        assert code == 1 and "is also an input of this command" in err, err
        assert _files(folder) == before and not (folder / "rep" / "charts").exists()


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(["fifo", "dir", "dangling", "device"]),
       command=st.sampled_from(["plan", "approve", "retry-file"]))
def test_an_output_that_is_not_a_regular_file_is_refused_even_as_root(kind, command):
    _, argv = COMMANDS[command]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _inputs(folder)
        target = {"fifo": "pipe", "dir": "adir", "dangling": "dangling", "device": "/dev/null"}[kind]
        if kind == "fifo":
            os.mkfifo(folder / "pipe")
        elif kind == "dir":
            (folder / "adir").mkdir()
        elif kind == "dangling":
            os.symlink(folder / "nowhere" / "x", folder / "dangling")
        code, err = run(*[target if a == "OUT" else a for a in argv], cwd=folder)
        assert code == 1, err
        assert {"fifo": "a FIFO", "dir": "a directory", "dangling": "does not exist", "device": "a device"}[kind] in err
        assert not (folder / "nowhere").exists()
        if kind == "fifo":
            assert (folder / "pipe").is_fifo()
        if kind == "device":
            assert Path("/dev/null").is_char_device()


# -- money exact at any number of digits -----------------------------------------------------------------
PRICES = st.builds(lambda digits, places: Decimal(digits).scaleb(-places),
                   st.integers(min_value=0, max_value=10**46 - 1), st.integers(min_value=40, max_value=60)) \
    .filter(lambda d: d <= 1_000_000)


@settings(max_examples=200, deadline=None)
@given(input_rate=PRICES, output_rate=PRICES, tokens=st.integers(min_value=0, max_value=2**53),
       output=st.integers(min_value=0, max_value=2**53), caller_precision=st.integers(min_value=1, max_value=28))
def test_a_cost_is_exact_whatever_the_digits_of_the_price_and_the_callers_context(
        input_rate, output_rate, tokens, output, caller_precision):
    import datetime as dt

    from batchcost.pricing.cost import price_tokens
    from batchcost.pricing.tables import ModelPrice, Rates

    rates = Rates(input=input_rate, output=output_rate)
    price = ModelPrice("m", rates, rates, "test", dt.date(2026, 11, 1), "test")
    with localcontext() as ctx:
        ctx.prec = caller_precision  # a caller's coarse context must not round our money
        cost = price_tokens(price, "batch", input_tokens=tokens, output_tokens=output)
    exact = (Fraction(input_rate) * tokens + Fraction(output_rate) * output) / 1_000_000
    assert Fraction(cost) == exact


def test_an_estimate_at_a_40_place_price_is_exact_in_the_json(tmp_path, cli):
    plan = tmp_path / "plan.jsonl"
    plan.write_text(json.dumps(LINE) + "\n")
    rate = "0.1234567890123456789012345678901234567891"
    prices = tmp_path / "p.yaml"
    prices.write_text(f"currency: USD\nsource: t\nchecked_on: 2026-11-01\nmodels:\n"
                      f"  gpt-4o-mini: {{input: {rate}, output: {rate}, batch: {{input: {rate}, output: {rate}}}}}\n")
    out = cli("estimate", plan, "--prices", prices, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    tokens = doc["input_tokens"]
    expected = Fraction(Decimal(rate)) * (tokens + 10) / 1_000_000  # 10 = the request's output bound
    assert Fraction(Decimal(doc["cost"]["batch"]["high"])) == expected
    assert len(doc["cost"]["batch"]["high"].split(".")[1]) > 40


def test_a_future_checked_on_warns_like_a_stale_one(tmp_path, cli):
    plan = tmp_path / "plan.jsonl"
    plan.write_text(json.dumps(LINE) + "\n")
    prices = tmp_path / "p.yaml"
    prices.write_text("currency: USD\nsource: t\nchecked_on: 2999-01-01\nmodels:\n"
                      "  gpt-4o-mini: {input: 0.15, output: 0.6}\n")
    out = cli("estimate", plan, "--prices", prices, "--format", "json")
    assert out.returncode == 0
    assert any("in the future" in w and "2999-01-01" in w for w in json.loads(out.stdout)["warnings"])
    check = cli("prices", "check", "--prices", prices)
    assert "FUTURE" in check.stdout and "in the future" in check.stderr


def test_dates_in_a_template_stay_the_text_written(tmp_path, cli):
    (tmp_path / "d.csv").write_text("id,text\n1,hi\n")
    (tmp_path / "t.yaml").write_text("endpoint: /v1/chat/completions\nmodel: gpt-4o-mini\ncustom_id: \"r-{id}\"\n"
                                     "body:\n  messages: [{role: user, content: \"{text}\"}]\n"
                                     "  metadata: {day: 2024-01-01, at: 2024-01-01 10:00:00, odd: 2026-02-30}\n")
    out = cli("plan", tmp_path / "d.csv", "-t", tmp_path / "t.yaml", "-o", tmp_path / "p.jsonl")
    assert out.returncode == 0, out.stderr
    body = json.loads((tmp_path / "p.jsonl").read_text())["body"]
    assert body["metadata"] == {"day": "2024-01-01", "at": "2024-01-01 10:00:00", "odd": "2026-02-30"}


def test_a_sample_larger_than_the_plan_counts_the_whole_plan(tmp_path, cli):
    plan = tmp_path / "plan.jsonl"
    plan.write_text("".join(json.dumps({**LINE, "custom_id": f"r{i}"}) + "\n" for i in range(5)))
    sampled = cli("estimate", plan, "--sample", "999999999999", "--format", "json")
    whole = cli("estimate", plan, "--format", "json")
    assert sampled.returncode == 0, sampled.stderr
    a, b = json.loads(sampled.stdout), json.loads(whole.stdout)
    assert a["input_tokens"] == b["input_tokens"] and a["cost"] == b["cost"]
    assert any("covers the whole plan" in w for w in a["warnings"])


def test_a_lone_surrogate_is_printed_as_its_escape_and_survives_json(tmp_path, cli):
    plan = tmp_path / "plan.jsonl"
    plan.write_text(json.dumps(LINE).replace('"r1"', '"r\\ud800"') + "\n")
    out = cli("count", plan, "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["custom_id"] == "r\ud800"
    report = cli("report", plan, "--out", tmp_path / "rep")
    assert report.returncode == 0, report.stderr


def _nested_plan(path: Path, depth: int, big_int: bool = False) -> Path:
    """30 plain requests; line 18 carries ``metadata`` nested ``depth`` deep (with an integer above 64 bits,
    which only the strict parser reads, when ``big_int``)."""
    lines = [json.dumps({**LINE, "custom_id": f"r{i}"}) for i in range(30)]
    leaf = "18446744073709551616" if big_int else "1"
    lines[17] = json.dumps({**LINE, "body": {**LINE["body"], "metadata": "X"}}).replace(
        '"X"', "[" * (depth - 2) + leaf + "]" * (depth - 2))  # the line and its body are two levels
    path.write_text("\n".join(lines) + "\n")
    return path


def test_same_messages_and_codes_on_every_engine(tmp_path, cli):
    plan = _nested_plan(tmp_path / "plan.jsonl", 1025)
    results = {engine: cli(*args) for engine, args in {
        "count": ["count", plan], "serial": ["estimate", plan], "jobs": ["estimate", plan, "--jobs", "2"],
        "dask": ["estimate", plan, "--engine", "dask"], "check": ["check", plan]}.items()}
    lines = {engine: (r.returncode, r.stderr.strip().splitlines()[-1]) for engine, r in results.items()}
    assert len({v for k, v in lines.items() if k != "check"}) == 1, lines
    code, line = lines["serial"]
    assert code == 1 and f"{plan}:18: JSON nested more than 1024 levels deep" in line
    assert f"{plan}:18: JSON nested more than 1024 levels deep" in results["check"].stdout


@pytest.mark.parametrize("big_int", [False, True], ids=["orjson", "strict parser"])
def test_both_parsers_hold_the_one_depth_limit(tmp_path, cli, big_int):
    """1,024 levels pass and 1,025 do not, whichever parser reads the line (orjson, or the standard library for
    what orjson refuses), on count, the estimate's fast path and --jobs alike."""
    for depth, ok in ((1024, True), (1025, False)):
        plan = _nested_plan(tmp_path / f"plan-{depth}.jsonl", depth, big_int)
        for args in (["count", plan], ["estimate", plan], ["estimate", plan, "--jobs", "2"]):
            out = cli(*args)
            assert (out.returncode == 0) is ok, (depth, args, out.stderr)
            assert "Traceback" not in out.stderr and "internal error" not in out.stderr


def test_an_output_that_is_a_link_to_a_regular_file_is_written_through(tmp_path):
    _inputs(tmp_path)
    (tmp_path / "old-approval.json").write_text("old\n")
    os.symlink("old-approval.json", tmp_path / "approval.json")
    code, err = run("approve", "plan.jsonl", "--budget", "5", "--by", "me", "-o", "approval.json", cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "approval.json").is_symlink()  # the link stays
    assert json.loads((tmp_path / "old-approval.json").read_text())["approved_by"] == "me"  # its file, replaced whole
