"""What every provider's SDK client shares: one mapper from an SDK's failures to ``RemoteError`` (exit 4) with the
key scrubbed, and the reading of a token count a counting endpoint answered."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

from batchcost.core.errors import RemoteError

_KEYLIKE = re.compile(r"((?:sk-|AIza)[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-*]{6,}")  # OpenAI/Anthropic, Google keys


def scrub(text: str, key: str | None) -> str:
    """Remove the API key (and anything shaped like one) from a message."""
    if key:
        text = text.replace(key, "***")
    text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
    text = re.sub(r"(?i)([?&]key=)[^&\s'\"]+", r"\1***", text)  # a key in a query string
    return _KEYLIKE.sub(r"\1***", text)


@contextmanager
def sdk_errors(what: str, key: str | None, base_url: str, status_error: type[BaseException],
               connection_error: type[BaseException],
               base_error: type[BaseException] | tuple[type[BaseException], ...]) -> Iterator[None]:
    """An SDK's failures (after its own retries) as one ``RemoteError`` line, the key scrubbed; ``transient`` says
    whether trying again may help (408/409/429/5xx and dropped connections). Shared by every provider's client."""
    try:
        yield
    except status_error as exc:
        message = getattr(exc, "message", None) or str(exc)
        code = int(getattr(exc, "status_code", None) or getattr(exc, "code", None) or 0)  # google-genai: .code
        error = RemoteError(f"{what} failed: HTTP {code}: {scrub(message, key)}")
        error.transient = code in (408, 409, 429) or code >= 500
        error.status = code
        raise error from None
    except connection_error as exc:
        error = RemoteError(f"{what} failed: cannot reach {base_url}: {scrub(str(exc.__cause__ or exc), key)}")
        error.transient = True
        raise error from None
    except base_error as exc:
        raise RemoteError(f"{what} failed: {scrub(str(exc), key)}") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # an answer the SDK (or we) could not read
        raise RemoteError(f"{what} failed: the server's answer is not what the API documents "
                          f"({type(exc).__name__}: {scrub(' '.join(str(exc).split()), key)[:120]})") from None


MAX_TOKEN_COUNT = 2**53  # no request is billed anywhere near this; an answer above it is wrong, not big


def answered_count(answer, field: str, what: str, key: str | None = None) -> int:
    """The token count a counting endpoint answered (``answer.field``), or ``RemoteError`` (exit 4) naming what
    came instead: an answer that is no JSON object (an HTML error page, a bare string), one without the field, or
    a value that is no whole number of tokens (negative, a fraction, true, absurdly large). Nothing is ever
    estimated from such an answer, and nothing falls back silently to an offline count."""
    value = answer.get(field) if isinstance(answer, dict) else getattr(answer, field, None)
    if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    if isinstance(answer, (str, bytes)):
        text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
        shown = f"text that is not a JSON object ({' '.join(text.split())[:60]!r})"
    elif value is None:
        shown = f"no {field}"
    else:
        shown = f"{field} {json.dumps(value, default=str)[:40]}"
    raise RemoteError(f"{what} failed: the server answered {scrub(shown, key)}, not a count of tokens (a whole "
                      "number, 0 or more)")


def shown_url(url: str) -> str:
    """What messages and the ledger show of a base URL: never credentials written into it (https://user:key@host)."""
    return re.sub(r"//[^/@]*@", "//", url)
