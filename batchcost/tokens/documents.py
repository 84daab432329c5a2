"""Media given inline, read the same way by every provider's counter: base64 in either alphabet, and the pages of
a PDF."""
from __future__ import annotations

import base64
import binascii
import re

_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")  # a page object (not the /Pages tree)


def decode_base64(text: str) -> bytes:
    """Base64 in the standard or the URL-safe alphabet, its padding optional; ``ValueError`` when it is neither."""
    altchars = b"-_" if "-" in text or "_" in text else None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc


def pdf_pages(raw: bytes) -> int:
    """The page objects a PDF's bytes hold (0 when none is found: not a PDF, or compressed object streams)."""
    return len(_PAGE.findall(raw))


def text_file(data: str) -> str:
    """An inline text file's content, from its base64 (either alphabet); undecodable bytes replaced."""
    return decode_base64(data).decode("utf-8", "replace")
