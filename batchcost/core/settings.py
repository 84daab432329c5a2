"""Settings: ``BATCHCOST_HOME/config.yaml`` and the environment variables that take its place.

``config.yaml`` is a user's file like any other: read bounded (no alias bomb, no key given twice, no nesting past
the YAML limit), registered as an input of the command (no output may replace it), and every error names it. It
holds ``project`` (the default project), ``allowed_signers`` (the file that makes signatures required) and
``max_enqueued_tokens`` (the queue cap per model: ``{gpt-4o-mini: 2000000, default: 900000}``).
"""
from __future__ import annotations

import os
from pathlib import Path

from batchcost.core.errors import UsageError
from batchcost.core.home import home_path

CONFIG_FILE = "config.yaml"
MAX_TOKENS = 2**53  # a queue cap (input tokens) above this is no cap any account has: a typo, refused


def config_path() -> Path:
    return home_path() / CONFIG_FILE


def read_config() -> tuple[Path, dict]:
    """BATCHCOST_HOME/config.yaml, read (an empty mapping when there is none). A file batchcost cannot use is a
    ``UsageError`` naming it (exit 2: settings are part of how the command is run)."""
    from batchcost.core.inputs import read_yaml_file

    path = config_path()
    if not path.exists():
        return path, {}
    doc = read_yaml_file(path, UsageError, "config file")
    if doc is None:
        return path, {}
    if not isinstance(doc, dict):
        raise UsageError("a config file is a YAML mapping (project, allowed_signers, max_enqueued_tokens)",
                         path=path, line=1)
    return path, doc


def setting(env: str, key: str, what: str) -> str | None:
    """A text setting: the environment variable ``env``, else ``key`` in config.yaml."""
    value = os.environ.get(env)
    if not value:
        from batchcost.core.inputs import line_of

        path, doc = read_config()
        value = doc.get(key)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{key} must be {what}", path=path, line=line_of(doc, key))
    return value.strip() or None if value else None


def configured_project() -> str | None:
    """The default project: BATCHCOST_PROJECT, else ``project`` in config.yaml."""
    return setting("BATCHCOST_PROJECT", "project", "a name")


def configured_signers() -> Path | None:
    """The allowed signers file that makes signatures required: BATCHCOST_ALLOWED_SIGNERS, else config.yaml's
    ``allowed_signers``."""
    value = setting("BATCHCOST_ALLOWED_SIGNERS", "allowed_signers", "a file path")
    return Path(value).expanduser() if value else None


def check_cap(value: object, where: str) -> int:
    """A queue cap: a whole number of input tokens, 1 to 2**53 (the ledger stores it as an integer)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_TOKENS:
        raise UsageError(f"{where} must be a whole number of input tokens from 1 to {MAX_TOKENS:,}, not "
                         f"{str(value)[:40]}")
    return value


def configured_cap(model: str | None) -> int | None:
    """max_enqueued_tokens for the model in config.yaml (the cap is per model and per account tier), else its
    ``default``."""
    from batchcost.core.inputs import line_of

    path, doc = read_config()
    caps = doc.get("max_enqueued_tokens") or {}
    if not isinstance(caps, dict):
        raise UsageError("max_enqueued_tokens must map model names to token counts", path=path,
                         line=line_of(doc, "max_enqueued_tokens"))
    name = model if model in caps else "default"
    if caps.get(name) is None:
        return None
    try:
        return check_cap(caps[name], f"max_enqueued_tokens for {name}")
    except UsageError as exc:
        raise UsageError(exc.message, path=path, line=line_of(caps, name)) from None


def settings_files() -> list[Path]:
    """The settings files a command may read (config.yaml, budgets.yaml, the allowed signers file), for the output
    gate: none of them is ever an output. Nothing is parsed that cannot be (the command that needs it says so)."""
    root = home_path()
    files = [root / CONFIG_FILE, root / "budgets.yaml"]
    from batchcost.core.errors import BatchcostError

    try:
        signers = configured_signers()
    except BatchcostError:  # a config.yaml that cannot be read is reported by the command that reads it
        signers = None
    return files + ([signers] if signers is not None else [])
