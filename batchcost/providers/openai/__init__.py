"""OpenAI Batch API (and Azure OpenAI, OpenAI-compatible servers): plan lines ``{"custom_id", "method", "url",
"body"}``, exact offline counts with tiktoken (``counting``), request rules from the SDK's types (``rules``), the
images and video endpoints (``media``), result lines (``results``), ``--online`` (``online``) and the client
(``client``, the only importer of ``openai``)."""
from __future__ import annotations

from batchcost.providers.openai.provider import OpenAIProvider

PROVIDER = OpenAIProvider()
