"""The Batch API's documented limits, in one place."""
from __future__ import annotations

MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200_000_000  # "200 MB": the smaller reading, so a file we pass is never rejected
MAX_EMBEDDING_INPUTS_PER_FILE = 50_000
BATCH_METHOD = "POST"
