"""Record a QC result: the SOP's test, the value checked against its specification as typed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Select, Static

from cellbatch.tui.screens.base import AppModal
from cellbatch.tui.widgets.plain import Plain

if TYPE_CHECKING:
    from cellbatch.services.queries.batch_view_model import BatchView


class QcDialog(AppModal):
    """Pick the test, type the result: PASS or FAIL is shown before saving."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, view: BatchView) -> None:
        from cellbatch.tui.queries import sop_of_view

        super().__init__()
        self.view = view
        """The batch the result belongs to."""
        from cellbatch.services.commands.qc import COMPUTED_QC_TESTS

        self.late = view.status == "released"
        """A released batch takes only late results (tests the SOP marks after infusion)."""
        self.tests = {
            t.id: t
            for t in sop_of_view(view, self.cb_app.database()).qc
            if t.test not in COMPUTED_QC_TESTS and (t.result_after_infusion or not self.late)
        }
        """The SOP's QC tests by id (not those the program computes, such as the cell dose)."""
        self.passed: bool | None = None
        """The verdict of the value being saved."""

    @property
    def entry_title(self) -> str:
        """What is being typed, for the question before quitting or logging out."""
        return f"QC result for {self.view.code}"

    @property
    def has_unsaved(self) -> bool:
        """Whether a result was typed and not saved."""
        return self.is_mounted and bool(self.query_one("#qc-value", Input).value.strip())

    def compose(self) -> ComposeResult:
        """Test, value, verdict."""
        with Vertical(classes="dialog"):
            yield Plain(
                f"Late result (after release) for {self.view.code}"
                if self.late
                else f"QC result for {self.view.code}",
                classes="title",
            )
            yield Label("Test")
            yield Select(
                [(f"{t.name} ({t.stage})", t.id) for t in self.tests.values()], id="qc-test"
            )
            yield Label("Result")
            yield Input(id="qc-value")
            if self.late:
                yield Label("Deviation (a retest only: the second late result of a test)")
                yield Input(id="qc-deviation", placeholder="D<n>, empty for a first result")
            yield Plain("", id="qc-verdict")
            yield Plain("Ctrl+S: save · Esc: cancel", id="qc-status", classes="hint")

    def _verdict(self) -> tuple[bool, str]:
        from cellbatch.domain.errors import CellbatchError

        select = self.query_one("#qc-test", Select)
        text = self.query_one("#qc-value", Input).value.strip()
        if select.is_blank():
            return False, "choose the test"
        test = self.tests[str(select.value)]
        spec = f"specification {test.spec_text()}"
        if not text:
            return False, spec
        try:
            passed = test.evaluate(text)
        except CellbatchError as error:
            return False, f"✗ {getattr(error, 'message', error)} ({spec})"
        verdict = "✓ PASS" if passed else "✗ FAIL — out of specification: a deviation opens"
        if not passed and self.late:
            verdict += ", the batch goes ON HOLD and the recipient is named"
        return True, f"{verdict} ({spec})"

    def on_input_changed(self) -> None:
        """Show PASS/FAIL as typed."""
        self.query_one("#qc-verdict", Static).update(self._verdict()[1])

    def on_select_changed(self) -> None:
        """Show the chosen test's specification."""
        self.query_one("#qc-verdict", Static).update(self._verdict()[1])

    def on_input_submitted(self) -> None:
        """Enter saves."""
        self.action_save()

    def action_save(self) -> None:
        """Save a well-formed result."""
        ok, message = self._verdict()
        if not ok:
            self.query_one("#qc-status", Static).update(f"Not saved: {message}")
            return
        test = self.tests[str(self.query_one("#qc-test", Select).value)]
        self.passed = message.startswith("✓")
        deviation = self.query_one("#qc-deviation", Input).value if self.late else ""
        self.record(test.id, test.stage, self.query_one("#qc-value", Input).value, deviation)

    @work(thread=True, exclusive=True, exit_on_error=False, name="qc")
    def record(self, test: str, stage: str, value: str, deviation: str = "") -> int:
        """Record the result (in a thread)."""
        from cellbatch.services.commands.qc import record_qc

        return record_qc(
            self.cb_app.database(),
            self.cb_app.actor,
            self.view.code,
            test=test,
            value=value,
            stage=stage,
            deviation=deviation or None,
        )

    def done_qc(self, result_id: int) -> None:
        """Say what was recorded and close."""
        if self.passed:
            self.notify(f"✓ QC result Q{result_id} recorded: PASS")
        else:
            self.notify(
                f"✗ QC result Q{result_id} recorded: FAIL, out of specification; "
                "a deviation was opened",
                severity="warning",
            )
        self.dismiss(True)

    def failed_qc(self, error: BaseException) -> None:
        """Say why; nothing was saved."""
        from cellbatch.tui.errors import describe_error

        self.query_one("#qc-status", Static).update(f"✗ Not saved: {describe_error(error)}")

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(False)
