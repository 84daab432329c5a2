"""The typer application and the one place errors become exit codes."""
from __future__ import annotations

import sys

import typer

from batchcost.core.errors import BatchcostError
from batchcost.core.version import VERSION as __version__

app = typer.Typer(
    name="batchcost",
    help="Know what an LLM batch job (OpenAI Batch API, Anthropic Message Batches, Gemini API Batch Mode, Vertex AI "
         "batch prediction) will cost before you spend, then submit exactly what was approved.\n\nEvery command "
         "takes --provider openai|anthropic|gemini|vertex: plans are read as that provider's lines (default: "
         "detected from the plan's first line), and batch commands talk to it (default: the provider the ledger "
         "recorded for the batch, else openai). Every command takes --model NAME: the batch's model, for Gemini and "
         "Vertex lines, which name none.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"batchcost {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Count, price, approve, submit and reconcile batch jobs (OpenAI, Anthropic, Gemini API, Vertex AI)."""


def _register() -> None:
    from batchcost.cli import (  # noqa: F401  (commands register themselves on `app`)
        batch,
        check,
        convert,
        count,
        estimate,
        pilot,
        plan,
        prices,
        reconcile,
        report,
        spend,
        split,
    )


def fail(message: str, code: int) -> int:
    print(f"batchcost: error: {' '.join(message.split())}", file=sys.stderr)
    return code


_SIGNALLED: list[int] = []  # the signal that interrupted the command (typer turns the interrupt into exit 130)


def _on_signal(signum, frame) -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, so every ``finally`` removes its temporary files."""
    _SIGNALLED.append(signum)
    raise KeyboardInterrupt()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code. Never lets a traceback reach the user."""
    import signal

    from batchcost.core.atomic import forget_inputs

    _register()
    forget_inputs()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, reading = _take_reading(argv)
    except BatchcostError as exc:
        return fail(exc.one_line(), exc.exit_code)
    for stream in (sys.stdout, sys.stderr):  # a lone surrogate in a user's text is printed as its escape
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    _SIGNALLED.clear()
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        from decimal import localcontext

        from batchcost.pricing.cost import MONEY

        with localcontext(MONEY):  # every figure of every command exact, whatever the digits of a price
            # Standalone mode: typer prints usage errors itself (exit 2) and exits through SystemExit.
            app(args=argv, prog_name="batchcost", obj=reading)  # every command reads plans as told
    except BatchcostError as exc:
        return fail(exc.one_line(), exc.exit_code)
    except SystemExit:
        if _SIGNALLED:
            return _interrupted()
        raise
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        return 0
    except RecursionError:
        return fail("input nested too deeply to process", 1)
    except OSError as exc:  # the machine refused (disk full, I/O error, ...): one line naming the file
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return fail(f"{where}{exc.strerror or exc}", 1)
    except Exception as exc:  # a bug: still one line, still a failure code
        return fail(f"internal error: {type(exc).__name__}: {exc} (please report this)", 1)
    finally:
        for sig, handler in previous.items():  # once interrupted, a second signal changes nothing
            signal.signal(sig, signal.SIG_IGN if _SIGNALLED else handler)
    return 0


MODEL_COMMANDS = ("estimate", "plan", "report", "convert")  # they define --model themselves (templates, what-if
# pricing, convert's target model)


def _take_option(argv: list[str], option: str, example: str, *, keep: bool = False) -> tuple[list[str], str | None]:
    """``option NAME`` or ``option=NAME`` anywhere on the line (before ``--``): its value, and the line without it
    (or with it, ``keep``, for a command that defines the option itself)."""
    out, chosen, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        if arg == option or arg.startswith(option + "="):
            inline = "=" in arg
            value = arg.split("=", 1)[1] if inline else (argv[i + 1] if i + 1 < len(argv) else None)
            if value is None or not value.strip() or value.startswith("-"):
                from batchcost.core.errors import UsageError

                raise UsageError(f"{option} needs a name, e.g. {option} {example}")
            chosen = value.strip()
            if keep:
                out += argv[i:i + (1 if inline else 2)]
            i += 1 if inline else 2
            continue
        out.append(arg)
        i += 1
    return out, chosen


def _take_reading(argv: list[str]):
    """How every plan of this run is read (DESIGN.md): ``--provider NAME`` (that provider's line shape) and
    ``--model NAME`` (the batch's model, for line shapes that carry none: Gemini, Vertex). Every command takes both;
    commands with their own --model keep it too. Returns the line without them, and the ``ReadOptions`` they say
    (passed to the command through typer's context: no process global)."""
    from batchcost import providers
    from batchcost.core.options import ReadOptions

    argv, provider = _take_option(argv, "--provider", "NAME (one of " + ", ".join(providers.names()) + ")")
    if provider is not None:
        providers.get(provider)  # an unknown provider is a usage error, before anything runs
    command = next((a for a in argv if not a.startswith("-")), None)
    argv, model = _take_option(argv, "--model", "gemini-2.5-flash", keep=command in MODEL_COMMANDS)
    return argv, ReadOptions(provider=provider, model=model)


def _interrupted() -> int:
    import signal

    return fail("interrupted", 128 + (_SIGNALLED[0] if _SIGNALLED else signal.SIGINT))


def run() -> None:
    """Console-script entry point. An interrupted run has cleaned up and said so by the time ``main`` returns; it
    then exits with its code at once, so a KeyboardInterrupt left pending in a finalizer cannot turn the exit into
    Python's own death by SIGINT (seen as exit -2 in about one interrupted run in thirty)."""
    code = main()
    if _SIGNALLED:
        import os

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)
