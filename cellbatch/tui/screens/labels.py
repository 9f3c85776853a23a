"""Print the bag labels and the batch record to a folder; scan each label barcode back.

PDFs go to ``CELLBATCH_PRINT_DIR`` (default: ``documents`` in the data folder); when
``CELLBATCH_PRINTER`` names a printer they are also sent to it with ``lp``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Static

from cellbatch.domain.users import Role
from cellbatch.tui.clock import iso_short
from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.batch_text import din_text
from cellbatch.tui.widgets.plain import Plain

if TYPE_CHECKING:
    from cellbatch.services.queries.batch_view_model import BatchView


def print_folder() -> Path:
    """Where printed PDFs are written (created when missing)."""
    from cellbatch.settings import default_data_dir

    folder = Path(os.environ.get("CELLBATCH_PRINT_DIR") or default_data_dir() / "documents")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def send_to_printer(path: Path) -> str:
    """Send a PDF to ``CELLBATCH_PRINTER`` with ``lp``, if one is configured."""
    import subprocess

    printer = os.environ.get("CELLBATCH_PRINTER")
    if not printer:
        return ""
    done = subprocess.run(
        ["lp", "-d", printer, str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        return f" · printer {printer} refused: {done.stderr.strip()[:80]}"
    return f" · sent to printer {printer}"


class LabelScreen(AppScreen):
    """Labels and record of one batch; the scanner checks each printed barcode."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f2", "print_labels", "Labels"),
        Binding("f3", "print_record", "Record"),
        Binding("f4", "reprint", "Reprint"),
        Binding("f5", "verify", "Verify"),
        Binding("f8", "clear", "Clear", show=False),  # the scan line says so
    ]
    AUTO_FOCUS = "#label-scan"

    def __init__(self, view: BatchView) -> None:
        super().__init__()
        self.view = view
        """The batch."""
        self.scans: list[str] = []
        """Barcodes read so far from the label in hand."""
        self.printed: list[Any] = []
        """The labels printed in this screen (their encoded data)."""

    def compose_body(self) -> ComposeResult:
        """Bag, output, scan field and the verdict."""
        bag = self.view.dose.bag if self.view.dose else None
        with VerticalScroll():
            yield Plain(f"Labels and record of {self.view.code}", classes="title")
            yield Plain(
                f"Bag 1: DIN {din_text(bag.din)} · product {bag.product_code} · expires "
                f"{iso_short(bag.expires_at)} UTC"
                if bag
                else "No bag yet: labels come after the fill (the record prints any time).",
                id="bag-line",
            )
            yield Plain(f"PDFs go to {print_folder()}", id="output", classes="hint")
            with Horizontal(id="scan-row"):
                yield Label("Scan ▸", id="scan-label")
                yield Input(id="label-scan", placeholder="scan each barcode of the label")
            yield Plain(
                "No scan yet. F5 (or Enter on an empty field) verifies; F8 clears the scans.",
                id="scans",
            )
            yield Plain("", id="scan-verdict")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Each scan is one barcode; Enter on an empty field verifies them."""
        text = event.value.strip()
        event.input.value = ""
        if not text:
            self.action_verify()
            return
        self.scans.append(text)
        self.query_one("#scans", Static).update(
            f"{len(self.scans)} scan(s): " + " | ".join(self.scans)
        )

    def action_clear(self) -> None:
        """Start the scans of a label again."""
        self.scans = []
        self.query_one("#scans", Static).update("No scan yet.")
        self.query_one("#scan-verdict", Static).update("")
        self.notify("Scans cleared: scan the label again")

    def action_verify(self) -> None:
        """Compare the scans with the bag."""
        if not self.scans:
            self.notify("Scan the label's barcodes first")
            return
        self.verify(list(self.scans))

    @work(thread=True, exclusive=True, exit_on_error=False, name="scan")
    def verify(self, scans: list[str]) -> Any:
        """Check the scans against the record (in a thread)."""
        from cellbatch.services.commands.labels import verify_scans

        return verify_scans(self.cb_app.database(), self.cb_app.actor, self.view.code, 1, scans)

    def done_scan(self, report: Any) -> None:
        """A clear pass, or exactly what differs."""
        lines = [("✓ PASS: " if report.ok else "✗ FAIL: ") + report.summary()]
        for check in report.checks:
            mark = "✓" if check.ok else "✗"
            lines.append(f"{mark} {check.kind or 'unreadable'}: {check.scan}")
            lines.extend(f"    differs: {d}" for d in check.differences)
        lines.extend(f"✗ not scanned: {m}" for m in report.missing)
        self.query_one("#scan-verdict", Static).update("\n".join(lines))
        self.scans = []

    def action_print_labels(self) -> None:
        """Print the bag labels (final when released, quarantine otherwise)."""
        self.print_labels()

    def action_reprint(self) -> None:
        """Print the labels again; the reason is recorded and the label says reprint.

        The reprint of a released (final) label is approved by a QA officer's signature.
        """
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog
        from cellbatch.tui.dialogs.signature import SignatureDialog

        if self.view.status == "released":
            self.app.push_screen(
                SignatureDialog(
                    f"reprint of the final label of {self.view.code} (a QA officer signs)",
                    "approved",
                    self.cb_app.actor.username if self.cb_app.actor.role == Role.QA else "",
                    ask_reason=True,
                    sign=lambda answer: self._print(
                        reprint=True,
                        reason=answer.reason,
                        approver=(answer.username, answer.password),
                    ),
                ),
                self._reprinted,
            )
            return
        self.app.push_screen(
            FormDialog(
                "Reprint the labels",
                [
                    DialogField(
                        "reason",
                        "Reason",
                        "e.g. label smudged",
                        checks.free_text("the reason for the reprint"),
                        ("--reason",),
                    )
                ],
                save=lambda values: self._print(reprint=True, reason=values["reason"]),
            ),
            self._reprinted,
        )

    def _reprinted(self, message: str | None) -> None:
        if message:
            self.done_labels(message)

    @work(thread=True, exclusive=True, exit_on_error=False, name="labels")
    def print_labels(
        self,
        reprint: bool = False,
        reason: str | None = None,
        approver: tuple[str, str] | None = None,
    ) -> str:
        """Write the label PDF and count the print (in a thread)."""
        return self._print(reprint, reason, approver)

    def _print(
        self,
        reprint: bool = False,
        reason: str | None = None,
        approver: tuple[str, str] | None = None,
    ) -> str:
        """Write the label PDF and count the print (in a worker thread)."""
        from cellbatch.documents.labels import render
        from cellbatch.services.commands.labels import print_labels
        from cellbatch.services.output_files import OutputFile

        db = self.cb_app.database()
        path = print_folder() / f"{self.view.code}-labels.pdf"
        out = OutputFile(path, force=True, protected=db.files(), field="print folder")

        def draw(bag_labels) -> bytes:
            document = render(bag_labels)
            out.write(document)
            out.publish()  # in place before the print is counted
            return document

        with out:
            printed = print_labels(
                db,
                self.cb_app.actor,
                self.view.code,
                draw,
                reprint=reprint,
                reason=reason,
                approver=approver,
            )
        self.printed = printed
        kind = "final" if printed and printed[0].final else "quarantine"
        if reprint:
            kind = f"reprinted {kind}"
        return f"✓ {len(printed)} {kind} label(s) written to {path}{send_to_printer(path)}"

    def action_print_record(self) -> None:
        """Print the complete batch record."""
        self.print_record()

    @work(thread=True, exclusive=True, exit_on_error=False, name="record")
    def print_record(self) -> str:
        """Write the batch record PDF (in a thread); the print is recorded in the audit trail."""
        from cellbatch.documents.batch_record import render
        from cellbatch.services.commands.disclosures import NOT_RECORDED, write_document
        from cellbatch.services.output_files import OutputFile
        from cellbatch.services.queries.documents import record_data

        db, code = self.cb_app.database(), self.view.code
        out = OutputFile(
            print_folder() / f"{code}-record.pdf",
            force=True,
            protected=db.files(),
            field="print folder",
        )
        written = write_document(
            db, self.cb_app.actor, out, render(record_data(db, code)),
            action="print", batch_code=code, document="batch record (PDF)",
        )  # fmt: skip
        note = "" if written.recorded else f" · {NOT_RECORDED}"
        return f"✓ batch record written to {written.path}{send_to_printer(written.path)}{note}"

    def done_labels(self, message: str) -> None:
        """Show where the labels went."""
        self.query_one("#output", Static).update(message)

    def done_record(self, message: str) -> None:
        """Show where the record went."""
        self.query_one("#output", Static).update(message)

    def action_back(self) -> None:
        """Back to the batch."""
        self.dismiss(None)
