"""Gemini API Batch Mode: plan lines ``{"key", "request": GenerateContentRequest}``, exact offline text counts with
the Gemma 3 vocabulary, request rules, result lines, ``--online`` through ``countTokens``, and the client (the only
importer of ``google.genai``)."""
from __future__ import annotations

from batchcost.providers.gemini.provider import GeminiProvider

PROVIDER = GeminiProvider()
