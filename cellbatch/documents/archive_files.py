"""The files of a batch's 30-year archive, drawn from its content (GMP-33).

Everything an inspector needs without cellbatch: the batch record (PDF), its electronic copy
(JSON), the batch's audit entries and the chain up to the trail's head, the SOP versions, the
labels as printed (one PDF each), a README saying how to check it all with standard tools, and
``verify_archive.py`` (Python's standard library only). The manifest and ``SHA256SUMS`` are
added by the command that writes the folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from cellbatch.documents.batch_record import render as render_record
from cellbatch.documents.labels import render as render_bag_labels
from cellbatch.documents.vial_labels import render_vials
from cellbatch.services import archive_verify
from cellbatch.services.queries.archive_content import ArchiveContent, ArchiveFile
from cellbatch.services.queries.label_content import BagLabel

README = """\
ARCHIVE OF BATCH {batch}  ({status})
Made {made_at} by {made_by} with cellbatch {version} (database schema {schema}).

This folder is the complete record of one batch, kept so that it can be read and checked for
as long as the law requires (30 years for ATMP traceability) without cellbatch. Every file is
plain: PDF, JSON, text.

WHAT IS HERE
  record.pdf            the complete batch record, for people (with its audit trail appended)
  record.json           the same record, electronic copy (UTF-8 JSON)
  audit/entries.jsonl   the audit entries of this batch, one JSON object a line, with hashes
  audit/chain.txt       the audit chain from this batch's first entry to the last entry of the
                        whole trail when archived: NUMBER PREVIOUS-HASH HASH, one entry a line
  sops/                 the procedure versions (SOPs) the batch was made under, as recorded
  labels/               each label printed for the batch, rebuilt from the records under the
                        site settings it was printed with (labels.json: which, and whether the
                        rebuilt content matches the content hash recorded at printing)
  manifest.json         what the archive is, the audit head it reaches, every file's SHA-256
  SHA256SUMS            the SHA-256 of every other file
  SHA256SUMS.seal       the HMAC-SHA256 of SHA256SUMS under the site key (checked with --key)
  verify_archive.py     the checks below in one script (Python 3 standard library only)

1. ARE THE FILES AS ARCHIVED?
     sha256sum -c SHA256SUMS
   Every line must say OK. No file may be in the folder that SHA256SUMS does not list.
   The SHA-256 of SHA256SUMS itself is {sums_note}
   Anyone can recompute these hashes after changing a file; SHA256SUMS.seal cannot be
   recomputed without the site key: verify_archive.py --key checks it (the HMAC-SHA256 of
   the text "cellbatch archive sums v1", a newline, then the bytes of SHA256SUMS).
   Without the key nothing is proved: verify_archive.py then says "the seals were NOT
   checked (no site key): not proved" and exits 3; --hashes-only asks for the plain hash
   check alone (exit 0 when the hashes match, and it still says "not proved").

2. ARE THE AUDIT ENTRIES GENUINE AND IN THE CHAIN?
   An entry's hash is its seal: the HMAC-SHA256, under the site's key (a file kept by the
   site, never in the database: ask its QA for it), of the text "cellbatch audit entry v2"
   and a newline followed by the JSON list of its fields, in this order:
     {fields}
   no spaces (separators "," and ":"), UTF-8, non-ASCII characters kept. Without the key
   the seals cannot be checked; the links below can.
   Each entry's "prev_hash" is the hash of the entry before it; the first entry of the whole
   trail has 64 zeros. chain.txt lists every entry from this batch's first to the last one,
   so the links can be followed without the other batches' content. In Python 3:

     python3 verify_archive.py --key cellbatch.key

   or by hand (Python 3, standard library):

     import json, hashlib, hmac
     F = {fields_tuple}
     key = bytes.fromhex(open("cellbatch.key").read().split()[1])
     for line in open("audit/entries.jsonl", encoding="utf-8"):
         e = json.loads(line)
         text = "cellbatch audit entry v2\n" + json.dumps(
             [e.get(k) for k in F], separators=(",", ":"), ensure_ascii=False)
         seal = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
         assert seal == e["hash"], e["seq"]
     prev = None
     for line in open("audit/chain.txt"):
         seq, p, h = line.split()
         assert prev is None or p == prev, seq
         prev = h
     # prev must equal manifest.json's audit_head.hash

3. WHERE DOES THE PROOF END?
   The chain ends at the audit head named in manifest.json (entry #{head_seq}). {anchor_note}
   The archive's own SHA256SUMS hash was written into the audit trail when the archive was
   made (action "archive"), so a later copy of the trail vouches for this folder too.
"""


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def archive_files(content: ArchiveContent, made_by: str, version: str) -> list[ArchiveFile]:
    """Every file of the archive except the manifest and SHA256SUMS."""
    files = [
        ArchiveFile("record.pdf", render_record(content.record), "batch record (PDF)"),
        ArchiveFile("record.json", content.export_json(), "batch record, electronic copy (JSON)"),
        ArchiveFile(
            "audit/entries.jsonl",
            "".join(
                json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in content.entries
            ).encode(),
            f"the batch's {len(content.entries)} audit entries, with their hashes",
        ),
        ArchiveFile(
            "audit/chain.txt",
            "".join(f"{s} {p} {h}\n" for s, p, h in content.chain).encode(),
            f"the audit chain from entry #{content.chain[0][0] if content.chain else '-'} "
            f"to the head #{content.head_seq}",
        ),
    ]
    for sop in content.sops:
        files.append(
            ArchiveFile(
                f"sops/{sop.sop_id}-v{sop.version}.json",
                _json(sop.content),
                f"SOP {sop.sop_id} version {sop.version} as recorded (content hash "
                f"{sop.content_hash})",
            )
        )
    listing = []
    for label in content.labels:
        if isinstance(label.content, BagLabel):
            pdf = render_bag_labels([label.content])
        else:
            pdf = render_vials([label.content])
        name = f"labels/{label.ref}-{label.kind}.pdf"
        state = "matches" if label.matches else "DIFFERS FROM"
        files.append(
            ArchiveFile(
                name,
                pdf,
                f"label {label.ref} ({label.kind}) printed {label.printed_at}, rebuilt: its "
                f"content {state} the content recorded at printing",
            )
        )
        listing.append(
            {
                "ref": label.ref,
                "kind": label.kind,
                "file": name,
                "printed_at": label.printed_at,
                "recorded_content_hash": label.recorded_content_hash,
                "recorded_document_hash": label.recorded_document_hash,
                "rebuilt_content_hash": label.content.content_hash(),
                "content_matches_print": label.matches,
                "content": label.content.to_dict(),
            }
        )
    if listing:
        files.append(
            ArchiveFile("labels/labels.json", _json(listing), "the printed labels and their hashes")
        )
    files.append(
        ArchiveFile(
            "verify_archive.py",
            Path(archive_verify.__file__).read_bytes(),
            "the checks of README.txt in one script (Python 3 standard library only)",
        )
    )
    readme = README.format(
        batch=content.batch,
        status=content.status,
        made_at=content.made_at,
        made_by=made_by,
        version=version,
        schema=content.schema_revision,
        fields=", ".join(archive_verify.ENTRY_FIELDS),
        fields_tuple=archive_verify.ENTRY_FIELDS,
        head_seq=content.head_seq,
        sums_note="recorded in the audit trail entry that made this archive.",
        anchor_note=(
            f"It passes through anchor #{content.anchor['seq']} ({content.anchor['kind']}, "
            f"{content.anchor['at']}), written outside the database to the site's anchor log "
            f"(line {content.anchor['anchor_log_line']}): chain.txt must hold entry "
            f"#{content.anchor['seq']} with hash {content.anchor['hash']}, and so must the site's "
            "anchor log and its off-site copies."
            if content.anchor
            else "No anchor of the site's anchor log falls in it: compare that head with a later "
            "copy of the trail or of the anchor log (entry #N there must have the same hash)."
        ),
    )
    files.append(ArchiveFile("README.txt", readme.encode(), "how to read and check this archive"))
    return files
