"""Check a batch archive folder with nothing but Python's standard library (GMP-33).

This file is copied, unchanged, into every archive as ``verify_archive.py``: an inspector
runs ``python3 verify_archive.py`` inside the folder, decades from now, without cellbatch.
``cellbatch archive verify DIR`` runs the same code. It checks:

1. every file is listed in ``SHA256SUMS`` with its SHA-256, and nothing else is in the folder
   (the same check as ``sha256sum -c SHA256SUMS``, plus "no file added");
2. ``manifest.json`` lists the same files with the same hashes;
3. with the site key (``--key FILE``), each audit entry of the batch (``audit/entries.jsonl``)
   carries its seal: the HMAC-SHA256 under the key of a prefix and the entry's fields as a
   compact JSON list (docs/trust-model.md); without the key the seals cannot be checked
   (that is what the key is for): the script then never says "intact" but "not proved"
   and exits 3, unless ``--hashes-only`` asks for the plain hash check alone;
4. with the site key, ``SHA256SUMS.seal`` holds the HMAC-SHA256 under the key of
   ``SHA256SUMS``: a file changed and every hash recomputed (record, SOP, label, manifest)
   no longer matches it;
5. the chain (``audit/chain.txt``: entry number, previous hash, hash) links without a gap from
   the batch's first entry to the trail's last entry when archived, holds every entry of the
   batch, and ends at the hash the manifest names (and, where the manifest names one, at the
   anchor).

Only the standard library: no import of cellbatch or of any other package.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path

ENTRY_FIELDS = (
    "seq",
    "at",
    "user_id",
    "username",
    "action",
    "entity",
    "entity_id",
    "batch_id",
    "field",
    "old_value",
    "new_value",
    "reason",
    "row_hash",
    "prev_hash",
)
"""The fields an audit entry's hash covers, in the program's rule (db/audit_chain.py)."""

SUMS = "SHA256SUMS"

SEAL = "SHA256SUMS.seal"
"""The keyed seal of ``SHA256SUMS`` (hex HMAC-SHA256 under the site key, one line)."""
SEAL_PREFIX = "cellbatch archive sums v1\n"
"""What the sealed message starts with, before the bytes of ``SHA256SUMS``."""
MAC_PREFIX = "cellbatch audit entry v2\n"
"""What every sealed message starts with (db/audit_chain.py)."""

KEY_HEADER = "cellbatch-site-key-v1"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_seal(entry: dict, secret: bytes) -> str:
    """The seal of one audit entry under the site key, as the program computes it."""
    fields = [entry.get(name) for name in ENTRY_FIELDS]
    text = MAC_PREFIX + json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def sums_seal(sums: bytes, secret: bytes) -> str:
    """The seal of an archive's ``SHA256SUMS`` content under the site key."""
    return hmac.new(secret, SEAL_PREFIX.encode("ascii") + sums, hashlib.sha256).hexdigest()


def check_seal(folder: Path, secret: bytes) -> list[str]:
    """Problems with the keyed seal of ``SHA256SUMS``: missing, or not matching it."""
    try:
        sums = (Path(folder) / SUMS).read_bytes()
        sealed = (Path(folder) / SEAL).read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return [f"{SEAL} is missing or unreadable: the file hashes cannot be proved genuine"]
    if not hmac.compare_digest(sealed, sums_seal(sums, secret)):
        return [
            f"{SUMS} does not match {SEAL}, its seal under the site key: files were "
            "changed and their hashes recomputed"
        ]
    return []


def read_key(path: Path) -> bytes:
    """The secret of a site key file (``cellbatch-site-key-v1 HEX``); ValueError if not one."""
    words = Path(path).read_text(encoding="ascii").split()
    if len(words) != 2 or words[0] != KEY_HEADER:
        raise ValueError(f"{path} is not a cellbatch site key")
    return bytes.fromhex(words[1])


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def check_files(folder: Path) -> list[str]:
    """Problems with the files: changed, missing, added, or not matching the manifest."""
    problems = []
    sums = folder / SUMS
    if not sums.is_file():
        return [f"{SUMS} is missing"]
    listed: dict[str, str] = {}
    for number, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            problems.append(f"{SUMS} line {number} is not 'SHA-256  FILE'")
            continue
        listed[name] = digest
    for name, digest in sorted(listed.items()):
        path = folder / name
        if name.startswith("/") or ".." in Path(name).parts:
            problems.append(f"{SUMS} names {name!r}, outside the archive folder")
            continue
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif _sha256(path) != digest:
            problems.append(f"{name} was changed (its SHA-256 is not the one in {SUMS})")
    for name in _files(folder):
        if name not in (SUMS, SEAL) and name not in listed:
            problems.append(f"{name} was added (not in {SUMS})")
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        in_manifest = {f["path"]: f["sha256"] for f in manifest["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        problems.append("manifest.json is missing or damaged")
        return problems
    listed_without_manifest = {k: v for k, v in listed.items() if k != "manifest.json"}
    if in_manifest != listed_without_manifest:
        problems.append(f"manifest.json and {SUMS} list different files or hashes")
    return problems


def check_chain(folder: Path, secret: bytes | None = None) -> list[str]:
    """Problems with the audit entries and their chain up to the archived head.

    The entries' seals are checked only with the site key's ``secret``.
    """
    problems = []
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        head_seq, head_hash = manifest["audit_head"]["seq"], manifest["audit_head"]["hash"]
        entries = [
            json.loads(line)
            for line in (folder / "audit" / "entries.jsonl").read_text("utf-8").splitlines()
        ]
        chain = [
            line.split(" ")
            for line in (folder / "audit" / "chain.txt").read_text("utf-8").splitlines()
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"the audit files cannot be read ({exc})"]
    links = {}
    previous = None
    for number, parts in enumerate(chain, start=1):
        if len(parts) != 3 or not parts[0].isdigit():
            problems.append(f"chain.txt line {number} is not 'NUMBER PREVIOUS-HASH HASH'")
            return problems
        seq, prev, this = int(parts[0]), parts[1], parts[2]
        if previous is not None and (seq != previous[0] + 1 or prev != previous[1]):
            problems.append(f"the chain breaks at entry #{seq}")
        links[seq] = (prev, this)
        previous = (seq, this)
    if previous is None or previous != (head_seq, head_hash):
        problems.append("the chain does not end at the audit head the manifest names")
    for entry in entries:
        seq = entry.get("seq")
        if secret is not None and entry_seal(entry, secret) != entry.get("hash"):
            problems.append(
                f"audit entry #{seq} does not hash to its recorded hash under the site key "
                "(edited or forged)"
            )
        if links.get(seq) != (entry.get("prev_hash"), entry.get("hash")):
            problems.append(f"audit entry #{seq} is not the entry #{seq} of the chain")
    anchor = manifest.get("anchor")
    if anchor and links.get(anchor.get("seq"), (None, None))[1] != anchor.get("hash"):
        problems.append(f"the chain does not pass through the anchor at #{anchor.get('seq')}")
    return problems


def check(folder: Path, secret: bytes | None = None) -> list[str]:
    """Every problem found in the archive at ``folder``; empty when it is intact.

    With the site key's ``secret``, every entry's seal is checked too.
    """
    folder = Path(folder)
    sealed = check_seal(folder, secret) if secret is not None else []
    return check_files(folder) + sealed + check_chain(folder, secret)


NOT_PROVED = "files match their hashes; the seals were NOT checked (no site key): not proved"
"""What a check without the site key says: anyone can recompute plain hashes."""


def main(argv: list[str]) -> int:
    """``python3 verify_archive.py [FOLDER] [--key FILE | --hashes-only]``: exit 0 when intact.

    Without the key the archive is not proved (a file changed with every hash recomputed
    passes the plain hashes): exit 3, unless ``--hashes-only`` asks for that check alone.
    Exit 1 naming the problems; 2 when the key file is not a site key.
    """
    args = list(argv[1:])
    secret = None
    hashes_only = "--hashes-only" in args
    if hashes_only:
        args.remove("--hashes-only")
    if "--key" in args:
        at = args.index("--key")
        try:
            secret = read_key(Path(args[at + 1]))
        except (IndexError, OSError, ValueError) as exc:
            print(f"--key: expected a cellbatch site key file ({exc})")
            return 2
        del args[at : at + 2]
    folder = Path(args[0]) if args else Path(__file__).resolve().parent
    problems = check(folder, secret)
    if problems:
        for problem in problems:
            print(f"ARCHIVE NOT INTACT: {problem}")
        return 1
    if secret is None:
        print(f"{NOT_PROVED}: {folder}")
        if hashes_only:
            print("(--hashes-only: the hash-only check asked for passed)")
            return 0
        print("give the site key (--key FILE) to prove it, or --hashes-only for this check alone")
        return 3
    print(f"archive intact: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
