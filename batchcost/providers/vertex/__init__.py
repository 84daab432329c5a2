"""Vertex AI batch prediction for Gemini: plan lines ``{"request": ...}`` with no id, counted and checked as the
Gemini API's are, and output lines that echo their request."""
from __future__ import annotations

from batchcost.providers.vertex.provider import VertexProvider

PROVIDER = VertexProvider()
