"""One batch: chain of identity, SOP timeline, process, QC and the audit trail, paged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from cellbatch.tui.clock import iso_short
from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets import batch_text
from cellbatch.tui.widgets.plain import Plain
from cellbatch.tui.widgets.tables import fit_columns

if TYPE_CHECKING:
    from cellbatch.services.queries.batch_view_model import BatchView
    from cellbatch.services.queries.readable_audit import ReadableEntry
    from cellbatch.services.queries.screens import BatchScreenData

AUDIT_PAGE = 50
"""Audit entries shown per page."""


def audit_change(entry: ReadableEntry) -> str:
    """One audit entry as lines people read: what changed, old → new, and the reason.

    The words are the batch record's (services/queries/readable_audit.py): values with their
    units, lot numbers and printed names, never a row id.
    """
    lines = [f"{entry.action} {entry.record}".strip()]
    change = f"{entry.field}: " if entry.field else ""
    if entry.old is not None and entry.new is not None:
        lines.append(f"{change}{entry.old} → {entry.new}")
    elif entry.new is not None or entry.old is not None:
        lines.append(f"{change}{entry.new if entry.new is not None else entry.old}")
    if entry.reason:
        lines.append(f"reason: {entry.reason}")
    return "\n".join(lines)


class BatchScreen(AppScreen):
    """Everything recorded about one batch."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f2", "record", "Record"),
        Binding("f3", "qc", "QC"),
        Binding("f4", "correct", "Correct"),
        Binding("f5", "reload", "Refresh", show=False),
        Binding("f6", "review", "Review"),
        Binding("f9", "documents", "Print"),
        # in the palette and F1: the footer is full at 80 columns
        Binding("f10", "issue", "Issue", show=False),
        Binding("f11", "hand_over", "Hand over", show=False),
        Binding("f12", "receive", "Receive", show=False),
        # the audit tab says these keys on its first line
        Binding("f7", "audit_page(-1)", "Audit ◀", show=False),
        Binding("f8", "audit_page(1)", "Audit ▶", show=False),
    ]

    def __init__(self, code: str, *, tab: str | None = None) -> None:
        super().__init__()
        self.code = code
        """The batch shown."""
        self.tab = tab
        """The tab to show first (an exception opens the record it is about)."""
        self.view: BatchView | None = None
        """Its read model, once loaded."""
        self.audit_offset = 0
        """First audit entry of the page shown."""
        self.audit_total = 0
        """How many audit entries the batch has."""

    def compose_body(self) -> ComposeResult:
        """Chain of identity on top, then tabs."""
        yield Plain(f"Loading {self.code}…", id="chain")
        with TabbedContent(id="tabs"):
            with TabPane("Steps", id="tab-steps"), VerticalScroll():
                yield Plain("", id="timeline")
            with TabPane("Process", id="tab-process"), VerticalScroll():
                yield Plain("", id="process")
                yield Plain("", id="custody")
                yield DataTable(id="passages", cursor_type="row")
                yield Plain("", id="chart")
                yield Plain("Vials of the bank", id="vials-title", classes="section")
                yield DataTable(id="vials", cursor_type="row", zebra_stripes=True)
            with TabPane("QC", id="tab-qc"), VerticalScroll():
                yield DataTable(id="qc", cursor_type="row", zebra_stripes=True)
                yield Plain("", id="qc-note", classes="hint")
            with TabPane("Signatures", id="tab-signatures"), VerticalScroll():
                yield DataTable(id="signatures", cursor_type="row", zebra_stripes=True)
                yield Plain("Deviations", classes="section")
                yield DataTable(id="deviations", cursor_type="row")
            with TabPane("Audit", id="tab-audit"), VerticalScroll():
                yield Plain("", id="audit-page", classes="hint")
                yield DataTable(id="audit", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        """Set up the tables and load."""
        self.query_one("#passages", DataTable).add_columns(
            "P",
            "Vessels",
            "Seeded ×10⁶",
            "cells/cm²",
            "Viable ×10⁶",
            "Via. %",
            "PD",
            "Cum. PD",
        )
        width = self.app.size.width
        fit_columns(
            self.query_one("#vials", DataTable),
            [("Vial", 4), ("Status", 22), ("Location", None)],
            width,
        )
        fit_columns(
            self.query_one("#qc", DataTable),
            [("ID", 4), ("Test · stage", None), ("Result", 12), ("Spec.", 12), ("Verdict", 12)],
            width,
        )
        fit_columns(
            self.query_one("#signatures", DataTable),
            [("On", 10), ("Meaning", 9), ("Name", 16), ("Signed (UTC)", 16), ("Valid?", None)],
            width,
        )
        fit_columns(
            self.query_one("#deviations", DataTable),
            [("ID", 4), ("Status", 7), ("Class", 8), ("Title · opened", None), ("Closed by", 10)],
            width,
        )
        fit_columns(
            self.query_one("#audit", DataTable),
            [("#", 4), ("UTC · user", 16), ("Change · old → new · reason", None)],
            width,
        )
        self.reload()

    def reload(self) -> None:
        """Load the batch again."""
        self.load(self.code, self.audit_offset)

    @work(thread=True, exclusive=True, exit_on_error=False, name="batch")
    def load(self, code: str, audit_offset: int) -> BatchScreenData:
        """Read the batch, its SOP steps and one page of its audit trail (in a thread)."""
        from cellbatch.services.queries.screens import batch_screen

        db = self.cb_app.database()
        return batch_screen(db, code, audit_offset=audit_offset, audit_page=AUDIT_PAGE)

    def failed_batch(self, error: BaseException) -> None:
        """Say why the batch cannot be shown."""
        from cellbatch.tui.errors import describe_error

        self.query_one("#chain", Static).update(f"✗ {describe_error(error)}  (Esc: back)")

    def done_batch(self, data: BatchScreenData) -> None:
        """Show what was loaded."""
        view = data.view
        self.view = view
        self.code = view.code
        self.query_one("#chain", Static).update(batch_text.chain_text(view))
        if self.tab:
            self.query_one("#tabs", TabbedContent).active = self.tab
            self.tab = None
        self.query_one("#timeline", Static).update(batch_text.timeline_text(view, data.steps))
        self._show_process(view)
        self.query_one("#custody").display = view.expansion is None
        if view.expansion is None:
            self.load_custody(view.code)
        self.refresh_bindings()
        self._show_qc(view)
        self._show_signatures(list(view.signatures), list(view.deviations))
        self.audit_total = data.audit_total
        self._show_audit(list(data.audit_readable))

    @work(thread=True, exclusive=True, exit_on_error=False, name="custody")
    def load_custody(self, code: str) -> list:
        """The dose's bag's chain of custody (in a thread)."""
        from cellbatch.services.commands.custody import custody_chain

        return custody_chain(self.cb_app.database(), code)

    def done_custody(self, chain: list) -> None:
        """Every step of the chain, or that the bag is not issued yet."""
        lines = [step.text() for step in chain] or ["not issued (F10 issues a released bag)"]
        self.query_one("#custody", Static).update(
            "Chain of custody of bag 1 (F11 hands it over, F12 receives it):\n" + "\n".join(lines)
        )

    def failed_custody(self, error: BaseException) -> None:
        """Say why the chain cannot be shown."""
        from cellbatch.tui.errors import describe_error

        self.query_one("#custody", Static).update(f"✗ chain of custody: {describe_error(error)}")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Issue and hand-over are for a dose batch's bag (a bank's vials are not issued)."""
        if action in ("issue", "hand_over", "receive", "accompanying"):
            return self.view is not None and self.view.expansion is None
        return True

    def _show_process(self, view: BatchView) -> None:
        passages = self.query_one("#passages", DataTable)
        passages.clear()
        chart = self.query_one("#chart", Static)
        if view.expansion is not None:
            n = batch_text.number
            for p in view.expansion.passages:
                h = p.harvest
                passages.add_row(
                    f"P{p.passage}",
                    f"{p.vessels}×{p.vessel}",
                    n(p.viable_cells_seeded),
                    n(p.seeding_density),
                    n(h.viable_cells_harvested if h else None),
                    n(h.viability if h else None),
                    "—" if h is None else f"{h.population_doublings:.2f}",
                    "—" if h is None else f"{h.cumulative_population_doublings:.2f}",
                )
            self.query_one("#process", Static).update(batch_text.bank_text(view))
            chart.update(batch_text.growth_chart(view))
            passages.display = chart.display = True
        else:
            self.query_one("#process", Static).update(batch_text.dose_text(view))
            passages.display = chart.display = False
        vials = self.query_one("#vials", DataTable)
        vials.clear()
        bank_vials = view.expansion.vials if view.expansion else ()
        stock = [v for v in bank_vials if v.status == "in stock"]
        for v in sorted(bank_vials, key=lambda v: (v.status != "in stock", v.number)):
            status = "✓ in stock" if v.status == "in stock" else f"thawed for {v.thawed_for}"
            vials.add_row(str(v.number), status, v.location, height=None)
        shown = view.expansion is not None and bool(bank_vials)
        vials.display = self.query_one("#vials-title").display = shown
        self.query_one("#vials-title", Static).update(
            f"Vials of the bank: {len(stock)} in stock of {len(bank_vials)}"
        )

    def _show_qc(self, view: BatchView) -> None:
        table = self.query_one("#qc", DataTable)
        table.clear()
        for item in view.qc:
            retest = f" (retest of {item.retest_of})" if item.retest_of else ""
            table.add_row(
                item.id,
                f"{item.name}{retest} · {item.stage} · by {item.recorded_by.username}",
                batch_text.qc_value(item) + (" (corrected)" if item.corrected else ""),
                item.specification,
                batch_text.qc_verdict(item),
                height=None,
            )
        failed = sum(1 for item in view.qc if not item.passed)
        self.query_one("#qc-note", Static).update(
            f"{len(view.qc)} results · {failed} out of specification"
            if view.qc
            else "No QC result recorded yet (F3 records one)."
        )

    def _show_signatures(self, signatures: list, deviations: list) -> None:
        table = self.query_one("#signatures", DataTable)
        table.clear()
        for sig in signatures:
            if sig.valid:
                valid = "✓ valid" + (" (superseded)" if sig.superseded else "")
            else:
                valid = f"✗ INVALID: {sig.reason_invalid}"
            table.add_row(
                sig.on, sig.meaning, sig.full_name, iso_short(sig.signed_at), valid, height=None
            )
        if not signatures:
            table.add_row("—", "", "no electronic signature yet", "", "", height=None)
        table = self.query_one("#deviations", DataTable)
        table.clear()
        for d in deviations:
            table.add_row(
                d.id,
                d.status.upper(),
                d.classification or "—",
                f"{d.title} · opened {iso_short(d.opened_at)}",
                d.closed_by or "",
                height=None,
            )
        if not deviations:
            table.add_row("—", "", "", "no deviation on this batch", "", height=None)

    def _show_audit(self, records: list) -> None:
        table = self.query_one("#audit", DataTable)
        table.clear()
        for r in records:
            table.add_row(str(r.seq), f"{iso_short(r.at)}\n{r.who}", audit_change(r), height=None)
        last = min(self.audit_offset + AUDIT_PAGE, self.audit_total)
        self.query_one("#audit-page", Static).update(
            f"Audit trail: entries {self.audit_offset + 1}–{last} of {self.audit_total} "
            "(F7 previous page, F8 next page)"
        )

    # ------------------------------------------------------------------ actions
    def action_back(self) -> None:
        """Back to where the batch was opened from."""
        self.app.pop_screen()

    def action_reload(self) -> None:
        """Load again."""
        self.reload()

    def action_audit_page(self, delta: int) -> None:
        """Show the previous or next page of the audit trail."""
        offset = self.audit_offset + delta * AUDIT_PAGE
        if offset < 0 or offset >= max(self.audit_total, 1):
            self.notify("No more audit entries that way")
            return
        self.audit_offset = offset
        self.query_one("#tabs", TabbedContent).active = "tab-audit"
        self.reload()

    def action_record(self) -> None:
        """Open the form of the step due next (asking which, when there is a choice)."""
        from cellbatch.tui.dialogs.choice import ChoiceDialog

        if self.view is None:
            return
        options = list(self.view.next_steps)
        if not options:
            self.notify("No step is due: every SOP step is recorded or the batch is closed")
            return
        if len(options) == 1:
            self.open_form(options[0])
            return
        self.app.push_screen(ChoiceDialog("Which step?", [(k, k) for k in options]), self.open_form)

    def open_form(self, kind: str | None) -> None:
        """Show the entry form of step ``kind``."""
        from cellbatch.domain.errors import CellbatchError
        from cellbatch.tui.screens.entry import EntryScreen

        if kind and self.view is not None:
            try:  # the SOP is read from disk (cached): a changed file is refused, not a crash
                screen = EntryScreen(self.view, kind)
            except CellbatchError as error:
                self.cb_app.show_error(error)
                return
            self.app.push_screen(screen, self._after_entry)

    def _after_entry(self, saved: bool | None) -> None:
        if saved:
            self.reload()

    def action_qc(self) -> None:
        """Record a QC result."""
        from cellbatch.domain.errors import CellbatchError
        from cellbatch.tui.dialogs.qc import QcDialog

        if self.view is not None:
            try:
                dialog = QcDialog(self.view)
            except CellbatchError as error:
                self.cb_app.show_error(error)
                return
            self.app.push_screen(dialog, self._after_entry)

    def action_correct(self) -> None:
        """Correct a recorded value, with the reason."""
        from cellbatch.tui.dialogs.correction import CorrectionDialog

        if self.view is not None:
            self.app.push_screen(CorrectionDialog(self.view), self._after_entry)

    def action_sign(self) -> None:
        """Sign a record of the batch as performed, reviewed or approved, with its meaning."""
        from cellbatch.tui.dialogs.signature import SignatureDialog

        actor = self.cb_app.actor
        if actor is None:
            return
        self.app.push_screen(
            SignatureDialog(
                f"a record of {self.code}",
                "the one chosen below",
                actor.username,
                choices=[(m, m) for m in ("performed", "reviewed", "approved")],
                ask_ref=True,
                sign=self._sign,
            ),
            self._signed,
        )

    def _sign(self, answer) -> str:
        from cellbatch.services.commands.signatures import sign

        sign(
            self.cb_app.database(),
            answer.username,
            answer.password,
            self.code,
            answer.ref,
            answer.choice,
        )
        return f"✓ {answer.ref.upper()} of {self.code} signed as {answer.choice}"

    def _signed(self, message: str | None) -> None:
        if message:
            self.notify(message)
            self.reload()

    def action_export(self) -> None:
        """Write the complete electronic copy (JSON) to the print folder; it is recorded."""
        self.export()

    @work(thread=True, exclusive=True, exit_on_error=False, name="export")
    def export(self) -> str:
        """Write the JSON copy through the disclosure service (in a thread)."""
        from cellbatch.services.commands.disclosures import NOT_RECORDED, write_document
        from cellbatch.services.output_files import OutputFile
        from cellbatch.services.queries.documents import export_json
        from cellbatch.tui.screens.labels import print_folder

        db, code = self.cb_app.database(), self.code
        out = OutputFile(
            print_folder() / f"{code}-record.json",
            force=True,
            protected=db.files(),
            field="print folder",
        )
        written = write_document(
            db, self.cb_app.actor, out, export_json(db, code),
            action="export", batch_code=code, document="batch record, electronic copy (JSON)",
        )  # fmt: skip
        note = "" if written.recorded else f" · {NOT_RECORDED}"
        return f"✓ electronic copy of {code} written to {written.path}{note}"

    def done_export(self, message: str) -> None:
        """Say where the copy went."""
        self.notify(message, timeout=20)

    def action_review(self) -> None:
        """QA review, release checklist and the verification queue of this batch."""
        from cellbatch.tui.screens.review import ReviewScreen

        self.app.push_screen(ReviewScreen(self.code), lambda _r: self.reload())

    def action_issue(self) -> None:
        """Issue the dose's bag (the custody service decides whether it may leave)."""
        from cellbatch.tui.dialogs.custody import issue_dialog

        if self.cb_app.actor is not None:
            dialog = issue_dialog(self.code, self.cb_app.database, self.cb_app.actor)
            self.app.push_screen(dialog, self._custody_saved)

    def action_hand_over(self) -> None:
        """Hand the bag you hold to the next person."""
        from cellbatch.tui.dialogs.custody import hand_over_dialog

        if self.cb_app.actor is not None:
            dialog = hand_over_dialog(self.code, self.cb_app.database, self.cb_app.actor)
            self.app.push_screen(dialog, self._custody_saved)

    def action_receive(self) -> None:
        """The ward receives the dose's bag (condition, temperature in transit)."""
        from cellbatch.tui.dialogs.custody import receive_dialog

        if self.cb_app.actor is not None:
            dialog = receive_dialog(self.code, self.cb_app.database, self.cb_app.actor)
            self.app.push_screen(dialog, self._received)

    def _received(self, text: str | None) -> None:
        if text:
            alarm = "EXCURSION" in text
            self.notify(f"{'✗' if alarm else '✓'} {text}",
                        severity="error" if alarm else "information",
                        timeout=30 if alarm else 10)  # fmt: skip
            self.reload()

    def action_accompanying(self) -> None:
        """Print the accompanying document of the issued bag (recorded, as the CLI prints it)."""
        self.accompanying()

    @work(thread=True, exclusive=True, exit_on_error=False, name="accompanying")
    def accompanying(self) -> str:
        """Write the document's PDF to the print folder through the disclosure service."""
        from cellbatch.documents.accompanying import render
        from cellbatch.services.commands.disclosures import NOT_RECORDED, write_document
        from cellbatch.services.output_files import OutputFile
        from cellbatch.services.queries.accompanying import accompanying_document
        from cellbatch.tui.screens.labels import print_folder

        db, code = self.cb_app.database(), self.code
        doc = accompanying_document(db, code)
        out = OutputFile(
            print_folder() / f"{code}-bag{doc.bag}-accompanying.pdf",
            force=True,
            protected=db.files(),
            field="print folder",
        )
        written = write_document(
            db, self.cb_app.actor, out, render(doc), action="print", batch_code=code,
            document="accompanying document (PDF)",
        )  # fmt: skip
        note = "" if written.recorded else f" · {NOT_RECORDED}"
        return f"✓ accompanying document of {code} bag {doc.bag} written to {written.path}{note}"

    def done_accompanying(self, message: str) -> None:
        """Say where the document went."""
        self.notify(message, timeout=20)

    def failed_accompanying(self, error: BaseException) -> None:
        """Say why it was not printed (not issued yet, no print folder)."""
        from cellbatch.tui.errors import describe_error

        self.notify(f"✗ accompanying document: {describe_error(error)}", severity="error",
                    timeout=20)  # fmt: skip

    def _custody_saved(self, ref: str | None) -> None:
        if ref:
            self.notify(f"✓ custody step {ref} recorded")
            self.reload()

    def action_documents(self) -> None:
        """Print the labels and the batch record; scan the labels back."""
        from cellbatch.tui.screens.labels import LabelScreen

        if self.view is not None:
            self.app.push_screen(LabelScreen(self.view), lambda _r: self.reload())

    def palette_commands(self) -> Iterable[SystemCommand]:
        """The batch's actions."""
        yield SystemCommand("Record the next step", self.code, self.action_record)
        yield SystemCommand("Record a QC result", self.code, self.action_qc)
        yield SystemCommand("Correct a recorded value", self.code, self.action_correct)
        yield SystemCommand("Refresh the batch", self.code, self.action_reload)
        yield SystemCommand("Review / verify / release", self.code, self.action_review)
        yield SystemCommand("Print labels and record", self.code, self.action_documents)
        if self.view is not None and self.view.expansion is None:
            yield SystemCommand("Issue the bag   (F10)", self.code, self.action_issue)
            yield SystemCommand("Hand over the bag   (F11)", self.code, self.action_hand_over)
            yield SystemCommand("Receive the bag on the ward   (F12)", self.code,
                                self.action_receive)  # fmt: skip
            yield SystemCommand("Print the accompanying document", self.code,
                                self.action_accompanying)  # fmt: skip
        yield SystemCommand("Sign a record with a meaning", self.code, self.action_sign)
        yield SystemCommand("Export the record (JSON)", self.code, self.action_export)
