"""The OpenAI-compatible batch APIs (Groq, Together, Mistral, Fireworks, DeepInfra, Alibaba Model Studio, xAI): one
provider each, all made from the service table in ``data/compatible.yaml`` (``catalog``): OpenAI's line shape, result
lines and client with the service's base URL, key, limits and models, counted with each model's own chat template
and vocabulary (``counting``)."""
from __future__ import annotations

from batchcost.providers.compatible.provider import CompatibleProvider

GROQ = CompatibleProvider("groq")
TOGETHER = CompatibleProvider("together")
MISTRAL = CompatibleProvider("mistral")
FIREWORKS = CompatibleProvider("fireworks")
DEEPINFRA = CompatibleProvider("deepinfra")
ALIBABA = CompatibleProvider("alibaba")
XAI = CompatibleProvider("xai")
SERVICES = (GROQ, TOGETHER, MISTRAL, FIREWORKS, DEEPINFRA, ALIBABA, XAI)
