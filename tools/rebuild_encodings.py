"""Rebuild the official tiktoken rank files from the npm package tiktoken (dev tool, not run by CI).

    npm pack tiktoken@1.0.22 && tar xzf tiktoken-1.0.22.tgz
    python tools/rebuild_encodings.py package/encoders

The npm package stores each encoding's ranks as one string: "<x> <first rank> <base64 token> <base64 token> ...".
Writing "<base64 token> <rank>\\n" per rank in rank order gives the file that tiktoken downloads; the sha256 is
checked against batchcost/data/encodings.yaml (tiktoken's expected_hash) before anything is written.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def rebuild(encoders_dir: Path) -> None:
    spec = yaml.safe_load((ROOT / "batchcost/data/encodings.yaml").read_text())["encodings"]
    for name, entry in spec.items():
        if "sha256" not in entry:
            continue
        ranks = json.loads((encoders_dir / f"{name}.json").read_text())["bpe_ranks"]
        pairs = []
        for chunk in filter(None, ranks.split("\n")):
            _, offset, *tokens = chunk.split(" ")
            pairs.extend((int(offset) + i, tok) for i, tok in enumerate(tokens))
        pairs.sort()
        data = "".join(f"{tok} {rank}\n" for rank, tok in pairs).encode()
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            sys.exit(f"{name}: sha256 {digest} is not tiktoken's {entry['sha256']}; nothing written")
        target = ROOT / "batchcost/tokens/tiktoken_cache" / entry["cache_file"]
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        print(f"{name}: {len(pairs)} ranks, sha256 ok -> {target.relative_to(ROOT)}")


if __name__ == "__main__":
    rebuild(Path(sys.argv[1]))
