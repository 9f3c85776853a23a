"""QA review by exception, the release checklist, second-person verification and decision."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from cellbatch.tui.dialogs.signature import SignatureAnswer, SignatureDialog
from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.batch_text import entry_summaries
from cellbatch.tui.widgets.plain import Plain
from cellbatch.tui.widgets.tables import fit_columns

if TYPE_CHECKING:
    from cellbatch.services.queries.review_model import Review

EXCEPTIONS = {
    "out_of_spec": "Out of specification",
    "retests": "Retest",
    "deviations": "Deviation",
    "corrections": "Correction",
    "late_entries": "Late entry",
    "missing_verifications": "Verification missing",
    "invalid_signatures": "Signature no longer valid",
    "sop_windows_exceeded": "SOP window exceeded",
    "flagged_values": "Value flagged",
    "doses_near_tolerance": "Dose near tolerance",
}
"""Sections of the review service's report, as headings."""

DECISIONS = [("Release", "release"), ("Quarantine", "quarantine"), ("Reject", "reject")]
"""QA's decisions, offered in the signature dialog."""


FORMATS = {
    "out_of_spec": "{id} {name}: {value} (specification {specification})",
    "deviations": "{id} {status!u}: {title}",
    "late_entries": "{id} {what}: performed {performed_at}, recorded late",
    "missing_verifications": "{id} {what}: {status!u}",
}
"""How the commonest exceptions read; the others are listed field by field."""


def _describe(section: str, value: Any) -> str:
    to_dict = getattr(value, "to_dict", None)
    if to_dict is None:
        return str(value)
    item = to_dict()  # listed field by field, by the names of the read model's fields
    if section == "sop_windows_exceeded":
        # a window still running is measured against "now": show its limit, not a moving figure
        took = (
            ""
            if str(item.get("to", "")).startswith("now")
            else f", took {item['actual_hours']:.1f} h"
        )
        return f"{item['window']}: {item['from']} → {item['to']}, limit {item['limit']}{took}"
    template = FORMATS.get(section)
    if template is not None:
        try:
            return template.replace("!u}", "}").format(
                **{k: (str(v).upper() if f"{{{k}!u}}" in template else v) for k, v in item.items()}
            )
        except (KeyError, IndexError):
            pass
    ref = item.get("ref") or item.get("id") or item.get("entry") or ""
    from cellbatch.tui.widgets.audit_text import value_text, words

    rest = "; ".join(
        f"{words(k)}: {value_text(v)}"
        for k, v in item.items()
        if k not in ("ref", "id") and v not in (None, "", []) and not k.endswith("_at")
    )
    return f"{ref} {rest}".strip()


def _tab_for(section: str, text: str) -> str:
    """The batch screen tab that shows the record an exception is about."""
    if section in ("deviations", "invalid_signatures"):
        return "tab-signatures"
    if section in ("out_of_spec", "retests") or text.startswith("Q"):
        return "tab-qc"
    if section == "doses_near_tolerance":
        return "tab-process"
    return "tab-steps"


class ReviewScreen(AppScreen):
    """One batch as QA reviews it: exceptions first, then the checklist and verifications."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f5", "reload", "Refresh", show=False),
        Binding("f6", "verify", "Verify"),
        Binding("f3", "new_deviation", "New dev.", show=False),  # in the palette too
        Binding("f4", "decline", "Decline", show=False),  # the queue's heading names it
        Binding("f7", "investigate", "Deviation"),
        Binding("f8", "close_deviation", "Close dev."),
        Binding("f9", "decide", "Decide"),
    ]
    AUTO_FOCUS = "#exceptions"

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code
        """The batch reviewed."""
        self.report: Review | None = None
        """The review service's report, once loaded."""
        self.pending: list[Any] = []
        """Entries waiting for a second person."""
        self.summaries: dict[str, str] = {}
        """What each entry holds, for the verifier to read before signing."""

    def compose_body(self) -> ComposeResult:
        """Verdict, exceptions, checklist, verification queue, a dose's bag after release."""
        with VerticalScroll():
            yield Plain(f"Review of {self.code}: loading…", id="verdict", classes="title")
            yield Plain(
                "Exceptions (Enter opens the batch record · F3 opens a deviation)",
                classes="section",
            )
            yield DataTable(id="exceptions", cursor_type="row")
            yield Plain("Release checklist", classes="section")
            yield DataTable(id="checklist", cursor_type="row")
            yield Plain(
                "Waiting for a second person's verification (Enter or F6 verifies, F4 declines)",
                classes="section",
            )
            yield DataTable(id="pending", cursor_type="row")
            yield Plain(
                "Issue, custody, bedside check and infusion", id="clinical-title", classes="section"
            )
            yield DataTable(id="clinical", cursor_type="row")

    def on_mount(self) -> None:
        """Columns, then load."""
        width = self.app.size.width
        exceptions = self.query_one("#exceptions", DataTable)
        fit_columns(exceptions, [("Kind", 20), ("Details", None)], width)
        checklist = self.query_one("#checklist", DataTable)
        fit_columns(checklist, [("Met?", 9), ("Criterion", None)], width)
        fit_columns(
            self.query_one("#pending", DataTable),
            [("Entry", 6), ("What", None), ("Status", 9)],
            width,
        )
        fit_columns(self.query_one("#clinical", DataTable), [("Step", None)], width)
        self.reload()

    def reload(self) -> None:
        """Load the review again."""
        self.load(self.code)

    @work(thread=True, exclusive=True, exit_on_error=False, name="review")
    def load(self, code: str) -> tuple[Review, list[Any], list[str], dict[str, str]]:
        """Review report, verification status, what bars this QA officer, what entries hold."""
        from cellbatch.services.queries.screens import review_screen

        data = review_screen(self.cb_app.database(), code, self.cb_app.actor)
        summaries = entry_summaries(data.view)
        return data.review, list(data.verifications), list(data.barred), summaries

    def done_review(self, outcome: tuple[Review, list[Any], list[str], dict[str, str]]) -> None:
        """Show exceptions, checklist and pending verifications."""
        report, verifications, barred, self.summaries = outcome
        self.report = report
        if report.status in ("released", "rejected"):
            ready = "decided and locked"
        elif report.ready_for_release:
            ready = "✓ READY for release"
            if barred:
                ready += f", but not by you: you {', '.join(barred[:3])}"
        else:
            ready = "✗ NOT ready for release"
        self.query_one("#verdict", Static).update(
            f"{report.batch} ({report.kind}) · status {report.status.upper()} · {ready}"
        )
        table = self.query_one("#exceptions", DataTable)
        table.clear()
        self.exception_tabs: list[str] = []
        for key, title in EXCEPTIONS.items():
            for item in getattr(report, key):
                table.add_row(title, _describe(key, item), height=None)
                self.exception_tabs.append(_tab_for(key, _describe(key, item)))
        if report.donor_eligibility:
            table.add_row(
                "Donor eligibility", _describe("donor", report.donor_eligibility), height=None
            )
        if not table.row_count:
            table.add_row("—", "no exception: nothing out of the ordinary to review")
        table = self.query_one("#checklist", DataTable)
        table.clear()
        for c in report.checklist:
            table.add_row(
                "✓ MET" if c.met else "✗ NOT MET",
                f"{c.description}: {c.detail}",
                height=None,
            )
        self.pending = [v for v in verifications if v.status in ("pending", "invalid")]
        table = self.query_one("#pending", DataTable)
        table.clear()
        for v in self.pending:
            held = self.summaries.get(v.ref, "")
            table.add_row(
                v.ref,
                f"{v.what}: {held}" if held else v.what,
                v.status.upper(),
                key=v.ref,
                height=None,
            )
        if not self.pending:
            table.add_row("—", "nothing waits for verification", "")
        table = self.query_one("#clinical", DataTable)
        table.clear()
        for line in report.clinical_use.lines():
            table.add_row(line, height=None)
        table.display = self.query_one("#clinical-title").display = report.clinical_use.applies

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """An exception opens the batch record it is about; a pending entry asks to verify."""
        if event.data_table.id == "exceptions":
            from cellbatch.tui.screens.batch import BatchScreen

            tabs = getattr(self, "exception_tabs", [])
            row = event.cursor_row
            tab = tabs[row] if row < len(tabs) else "tab-steps"
            self.app.push_screen(BatchScreen(self.code, tab=tab))
        elif event.data_table.id == "pending" and self.pending:
            self.action_verify()

    # ------------------------------------------------------------------ verify
    def action_verify(self) -> None:
        """Verify the highlighted pending entry, as a second person, with a signature."""
        if not self.pending:
            self.notify("Nothing waits for verification")
            return
        table = self.query_one("#pending", DataTable)
        row = min(table.cursor_row, len(self.pending) - 1)
        entry = self.pending[max(row, 0)]
        actor = self.cb_app.actor
        held = self.summaries.get(entry.ref)
        dialog = SignatureDialog(
            f"{self.code} {entry.ref} ({entry.what})" + (f"\n{held}" if held else ""),
            "verified",
            actor.username if actor else "",
            sign=lambda answer: self._sign_verification(entry.ref, answer),
        )
        self.app.push_screen(dialog, self._verified)

    def action_decline(self) -> None:
        """Decline to verify the highlighted entry, with the reason (a deviation opens)."""
        if not self.pending:
            self.notify("Nothing waits for verification")
            return
        table = self.query_one("#pending", DataTable)
        entry = self.pending[max(min(table.cursor_row, len(self.pending) - 1), 0)]
        actor = self.cb_app.actor
        held = self.summaries.get(entry.ref)
        dialog = SignatureDialog(
            f"{self.code} {entry.ref} ({entry.what})" + (f"\n{held}" if held else ""),
            "declined (a deviation opens with the reason)",
            actor.username if actor else "",
            ask_reason=True,
            sign=lambda answer: self._decline(entry.ref, answer),
        )
        self.app.push_screen(dialog, self._declined)

    def _decline(self, ref: str, answer: SignatureAnswer) -> str:
        """Decline through the service (in the dialog's worker)."""
        from cellbatch.services.commands.verification import decline

        number = decline(
            self.cb_app.database(), answer.username, answer.password, self.code, ref, answer.reason
        )
        return f"✓ verification of {ref} declined: deviation D{number} opened with the reason"

    def _declined(self, message: str | None) -> None:
        if message:
            self.notify(message, timeout=15)
            self.reload()

    def _sign_verification(self, ref: str, answer: SignatureAnswer) -> str:
        """Sign the verification (in the dialog's worker)."""
        from cellbatch.services.commands.verification import verify

        verify(self.cb_app.database(), answer.username, answer.password, self.code, ref)
        return ref

    def _verified(self, ref: str | None) -> None:
        """Say so and reload."""
        if ref:
            self.notify(f"✓ {ref} verified (signature recorded)")
            self.reload()

    # ------------------------------------------------------------------ deviations
    def _open_deviation(self) -> str | None:
        devs = [d for d in (self.report.deviations if self.report else ()) if d.status == "open"]
        if not devs:
            self.notify("No open deviation on this batch")
            return None
        return devs[0].id

    def action_investigate(self) -> None:
        """Record classification, investigation, root cause and CAPA of the open deviation."""
        from cellbatch.services.commands.deviations import CLASSIFICATIONS
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        ref = self._open_deviation()
        if ref is None:
            return
        dialog = FormDialog(
            f"Investigation of deviation {ref} of {self.code}",
            [
                DialogField(
                    "classification",
                    "Classification",
                    "minor, major or critical",
                    checks.one_of(CLASSIFICATIONS),
                    ("--classification",),
                    suggestions=CLASSIFICATIONS,
                ),
                DialogField(
                    "investigation",
                    "Investigation",
                    "what was checked and found",
                    checks.free_text("the investigation"),
                    ("--investigation",),
                ),
                DialogField(
                    "root_cause",
                    "Root cause",
                    "why it happened",
                    checks.free_text("the root cause"),
                    ("--root-cause",),
                ),
                DialogField(
                    "capa",
                    "CAPA",
                    "corrective and preventive action",
                    checks.free_text("the CAPA"),
                    ("--capa",),
                ),
                DialogField(
                    "reason",
                    "Reason for a change",
                    "only when changing what is recorded already",
                    checks.free_text("why it changes"),
                    ("--reason",),
                    required=False,
                ),
            ],
            save=lambda values: self._investigate(ref, values),
        )
        self.app.push_screen(dialog, self._investigated)

    def _investigate(self, ref: str, values: dict[str, Any]) -> str:
        """Record the investigation (in the dialog's worker)."""
        from cellbatch.services.commands.deviations import update_deviation

        return update_deviation(
            self.cb_app.database(),
            self.cb_app.actor,
            ref,
            classification=values["classification"],
            investigation=values["investigation"],
            root_cause=values["root_cause"],
            capa=values["capa"],
            reason=values["reason"] or None,
        )

    def _investigated(self, ref: str | None) -> None:
        """Say so and reload."""
        if ref:
            self.notify(f"✓ {ref}: investigation recorded")
            self.reload()

    def action_new_deviation(self) -> None:
        """Open a deviation on this batch by hand (QA, a supervisor or a technician)."""
        from cellbatch.services.commands.deviations import CLASSIFICATIONS
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        dialog = FormDialog(
            f"Open a deviation on {self.code}",
            [
                DialogField(
                    "title", "Title", "what went wrong, one line", checks.one_line("a title")
                ),
                DialogField(
                    "description",
                    "Description",
                    "what happened, when, what it affects",
                    checks.free_text("the description"),
                ),
                DialogField(
                    "classification",
                    "Classification",
                    "blank, or minor, major, critical",
                    checks.one_of(CLASSIFICATIONS),
                    suggestions=CLASSIFICATIONS,
                    required=False,
                ),
                DialogField(
                    "qc_result",
                    "QC result",
                    "blank, or the Q-number it covers",
                    names=("--result", "--qc-result"),
                    required=False,
                ),
            ],
            save=self._open_new,
        )
        self.app.push_screen(dialog, self._opened)

    def _open_new(self, values: dict[str, Any]) -> str:
        """Open it (in the dialog's worker)."""
        from cellbatch.services.commands.deviations import open_deviation

        number = open_deviation(
            self.cb_app.database(),
            self.cb_app.actor,
            self.code,
            title=values["title"],
            description=values["description"],
            classification=values["classification"] or None,
            qc_result=values["qc_result"] or None,
        )
        return f"D{number}"

    def _opened(self, ref: str | None) -> None:
        if ref:
            self.notify(f"✓ deviation {ref} opened on {self.code}: it blocks release until closed")
            self.reload()

    def action_close_deviation(self) -> None:
        """QA closes the open deviation with an approved signature."""
        ref = self._open_deviation()
        actor = self.cb_app.actor
        if ref is None or actor is None:
            return
        dialog = SignatureDialog(
            f"deviation {ref} of {self.code}",
            "approved",
            actor.username,
            sign=lambda answer: self._close(ref, answer),
        )
        self.app.push_screen(dialog, self._deviation_closed)

    def _close(self, ref: str, answer: SignatureAnswer) -> str:
        """Close it with the signature (in the dialog's worker)."""
        from cellbatch.services.commands.deviations import close_deviation

        close_deviation(self.cb_app.database(), answer.username, answer.password, ref)
        return ref

    def _deviation_closed(self, ref: str | None) -> None:
        """Say so and reload."""
        if ref:
            self.notify(f"✓ {ref} closed (approved signature recorded)")
            self.reload()

    # ------------------------------------------------------------------ decide
    def action_decide(self) -> None:
        """Release, quarantine or reject, with QA's signature."""
        actor = self.cb_app.actor
        if actor is None or actor.role.value != "qa":
            self.notify("Only QA releases, quarantines or rejects", severity="warning")
            return
        dialog = SignatureDialog(
            f"the batch record of {self.code}",
            "QA decision (released / rejected)",
            actor.username,
            choices=DECISIONS,
            ask_reason=True,
            sign=self._sign_decision,
        )
        self.app.push_screen(dialog, self._decided)

    def _sign_decision(self, answer: SignatureAnswer) -> tuple[str, object]:
        """Record the signed decision, then archive a release (in the dialog's worker)."""
        from cellbatch.documents.archive_files import archive_files
        from cellbatch.services.commands.archive import archive_released
        from cellbatch.services.commands.release import decide

        db = self.cb_app.database()
        status = decide(
            db, answer.username, self.code, answer.choice, answer.reason, password=answer.password
        )
        # the release is committed: the archive follows and never undoes it
        archived = archive_released(db, answer.username, self.code, archive_files)
        return status, archived

    def _decided(self, outcome: tuple[str, object] | None) -> None:
        """Say what the batch is now, and where it was archived (or how to archive it)."""
        if not outcome:
            return
        status, archived = outcome
        self.notify(f"✓ {self.code} is now {status.upper()} (signed)")
        made = getattr(archived, "made", None)
        if made is not None:
            self.notify(f"archived to {made.folder}")
        elif archived is not None:
            self.notify(
                f"{self.code} IS RELEASED, but its archive was not made: "
                f"{archived.problem}. Make it now: {archived.retry}",
                severity="error",
                timeout=60,
            )
        self.reload()

    def action_back(self) -> None:
        """Back to the batch (which reloads)."""
        self.dismiss(None)

    def action_reload(self) -> None:
        """Load again."""
        self.reload()

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Review actions."""
        yield SystemCommand("Verify an entry (signature)", self.code, self.action_verify)
        yield SystemCommand("Open a deviation   (F3)", self.code, self.action_new_deviation)
        yield SystemCommand("Decline to verify (reason)   (F4)", self.code, self.action_decline)
        yield SystemCommand(
            "Release / quarantine / reject (signature)", self.code, self.action_decide
        )
