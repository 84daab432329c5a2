"""Approvals that can be verified: signed with the approver's SSH key in OpenSSH's ``ssh-keygen -Y sign`` format
(SSHSIG, namespace ``batchcost``: the scheme git uses for signed commits), checked at submit against an allowed
signers file. The cryptography is OpenSSH's own: this module only calls ``ssh-keygen``.

What is signed is the approval itself (plan sha256 and files, estimate, budget, approver, project, time) as
canonical JSON, with the signature block minus its armored signature: so the principal is signed too, and any
edit after signing fails verification.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from batchcost.core.errors import BudgetExceeded, UsageError

NAMESPACE = "batchcost"
SCHEME = "sshsig"
TIMEOUT = 60  # seconds: ssh-keygen never waits on a terminal here (its stdin is the data), but bound it anyway


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise UsageError("signing or verifying an approval needs OpenSSH's ssh-keygen on PATH (Debian: "
                         "openssh-client)")
    return found


def payload(approval: dict) -> bytes:
    """The bytes a signature covers: the approval as canonical JSON, its signature block without the signature."""
    body = dict(approval)
    block = body.get("signature")
    if isinstance(block, dict):
        body["signature"] = {k: v for k, v in block.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def _run(args: list[str], data: bytes) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([_ssh_keygen(), *args], input=data, capture_output=True, timeout=TIMEOUT,
                              env={**os.environ, "SSH_ASKPASS_REQUIRE": "never"})
    except subprocess.TimeoutExpired:
        raise UsageError(f"ssh-keygen did not finish in {TIMEOUT} s (a key with a passphrase needs ssh-agent)") \
            from None


def _reason(done: subprocess.CompletedProcess) -> str:
    text = (done.stderr or done.stdout or b"").decode("utf-8", "replace").strip().splitlines()
    return text[-1][:200] if text else f"ssh-keygen exited {done.returncode}"


def sign(approval: dict, key: Path, principal: str) -> dict:
    """The approval with a ``signature`` block: ``{"scheme", "namespace", "principal", "sig"}``."""
    if not principal.strip():
        raise UsageError("a signed approval needs the signer's principal (--principal, as in allowed_signers)")
    from batchcost.core.atomic import register_input

    register_input(key)
    if not Path(key).is_file():
        raise UsageError(f"signing key {key} is not a file")
    signed = {**approval, "signature": {"scheme": SCHEME, "namespace": NAMESPACE, "principal": principal.strip()}}
    done = _run(["-Y", "sign", "-f", str(key), "-n", NAMESPACE], payload(signed))
    if done.returncode != 0 or b"BEGIN SSH SIGNATURE" not in done.stdout:
        raise UsageError(f"ssh-keygen could not sign with {key}: {_reason(done)}")
    signed["signature"]["sig"] = done.stdout.decode("ascii").strip()
    return signed


def verify(approval: dict, allowed_signers: Path, path: Path) -> str:
    """The signer's principal, when the approval's signature is good for a key ``allowed_signers`` lists for that
    principal; every refusal is ``BudgetExceeded`` (exit 3) with the reason."""
    block = approval.get("signature")
    if block is None:
        raise BudgetExceeded(f"approval {path} is unsigned, and this submit requires a signature by a key in "
                             f"{allowed_signers} (approve with --sign-with KEY)")
    if (not isinstance(block, dict) or block.get("scheme") != SCHEME or block.get("namespace") != NAMESPACE
            or not isinstance(block.get("principal"), str) or not isinstance(block.get("sig"), str)):
        raise BudgetExceeded(f"approval {path} has a malformed signature block")
    from batchcost.core.atomic import register_input

    register_input(allowed_signers)  # read by ssh-keygen: never an output of this command
    if not Path(allowed_signers).is_file():
        raise UsageError(f"allowed signers file {allowed_signers} is not a file")
    with tempfile.TemporaryDirectory(prefix="batchcost-sig-") as scratch:
        sig = Path(scratch) / "approval.sig"
        sig.write_text(block["sig"] + "\n", encoding="ascii", errors="replace")
        done = _run(["-Y", "verify", "-f", str(allowed_signers), "-I", block["principal"], "-n", NAMESPACE,
                     "-s", str(sig)], payload(approval))
    if done.returncode != 0:
        raise BudgetExceeded(f"approval {path}: the signature does not verify for {block['principal']!r} against "
                             f"{allowed_signers} (signed by a key not listed for that principal, or the approval "
                             f"was edited after signing): {_reason(done)}")
    return block["principal"]
