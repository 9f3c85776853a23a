"""One adverse-event report: what happened, its assessment, its closing; assess (F5), close (F6).

Opened from the home screen's table of open reports (clinic and QA). The assessment is a form
whose refusals name its fields; closing is QA's electronic signature. Everything is decided by
``services.commands.adverse_events`` (rules in ``domain.adverse_events``).
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll

from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain

KEYS_HINT = "F5: assess · F6: close (QA, signed) · F7: the batch's review · Esc: back"


class AdverseEventScreen(AppScreen):
    """A report and its follow-up."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f5", "assess", "Assess"),
        Binding("f6", "close_report", "Close"),
        Binding("f7", "review", "Review"),
    ]

    def __init__(self, ref: str) -> None:
        super().__init__()
        self.ref = ref
        """The report shown (``AE1``)."""
        self.view: Any = None
        """The report as last read."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only QA closes; nothing is offered on a closed report but its review."""
        closed = self.view is not None and self.view.status == "closed"
        if action == "close_report":
            actor = self.cb_app.actor
            return actor is not None and actor.role.value == "qa" and not closed
        if action == "assess":
            return not closed
        return True

    def compose_body(self) -> ComposeResult:
        """The report's lines and the keys."""
        with VerticalScroll():
            yield Plain(f"Adverse-event report {self.ref}", classes="title")
            yield Plain("Loading…", id="ae-text")
            yield Plain(KEYS_HINT, id="ae-keys", classes="hint")

    def on_mount(self) -> None:
        """Read the report."""
        super().on_mount()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, name="ae")
    def load(self) -> Any:
        """Read the report (in a thread)."""
        from cellbatch.services.queries.adverse_events import adverse_event_report

        return adverse_event_report(self.cb_app.database(), self.cb_app.actor, self.ref)

    def done_ae(self, view: Any) -> None:
        """Show it."""
        self.view = view
        self.query_one("#ae-text", Plain).update("\n".join(view.lines()))
        self.refresh_bindings()

    def action_assess(self) -> None:
        """The assessment form: grade, relatedness, action, physician, when told (and why)."""
        from cellbatch.domain.adverse_events import GRADE_WORDS, RELATEDNESS
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        again = self.view is not None and self.view.assessed_at is not None
        fields = [
            DialogField(
                "grade", "Grade", "severity 1–5",
                choices=tuple((f"{g} {w}", str(g)) for g, w in GRADE_WORDS.items()),
                names=("--grade",),
            ),
            DialogField(
                "relatedness", "Related", "to the product",
                choices=tuple((r, r) for r in RELATEDNESS), names=("--relatedness",),
            ),
            DialogField(
                "action", "Action taken", "treatment, tests, follow-up",
                checks.free_text("the action taken"), ("--action",),
            ),
            DialogField(
                "physician", "Physician told", "their name",
                checks.one_line("the physician's name"), ("--physician",),
            ),
            DialogField(
                "notified_at", "Told at", "YYYY-MM-DD HH:MM",
                checks.date_time(), ("--notified-at",),
            ),
        ]  # fmt: skip
        if again:
            fields.append(
                DialogField(
                    "reason",
                    "Reason",
                    "why the assessment changes",
                    checks.free_text("a reason"),
                    ("--reason",),
                )  # fmt: skip
            )
        db, actor, ref = self.cb_app.database(), self.cb_app.actor, self.ref

        def save(values: dict[str, Any]) -> str:
            from cellbatch.services.commands.adverse_events import assess_report

            return assess_report(
                db, actor, ref, grade=values["grade"], relatedness=values["relatedness"],
                action=values["action"], physician=values["physician"],
                notified_at=values["notified_at"], reason=values.get("reason"),
            )  # fmt: skip

        self.app.push_screen(FormDialog(f"Assess {self.ref}", fields, save=save), self.after_assess)

    def after_assess(self, ref: str | None) -> None:
        """Assessed: read the report again."""
        if ref:
            self.notify(f"✓ {ref} assessed")
            self.load()

    def action_close_report(self) -> None:
        """QA signs the closing of the assessed report, with its basis."""
        from cellbatch.tui.dialogs.signature import SignatureDialog

        db, ref = self.cb_app.database(), self.ref

        def sign(answer: Any) -> str:
            from cellbatch.services.commands.adverse_events import close_report

            return close_report(db, answer.username, answer.password, ref, reason=answer.reason)

        self.app.push_screen(
            SignatureDialog(
                f"closing of adverse-event report {self.ref}",
                "approved",
                self.cb_app.actor.username,
                ask_reason=True,
                sign=sign,
            ),
            self.after_close,
        )

    def after_close(self, ref: str | None) -> None:
        """Closed: read the report again."""
        if ref:
            self.notify(f"✓ {ref} closed and signed")
            self.load()

    def action_review(self) -> None:
        """The batch's review (deviations, hold, the late result)."""
        from cellbatch.tui.screens.review import ReviewScreen

        if self.view is not None:
            self.app.push_screen(ReviewScreen(self.view.batch))

    def action_back(self) -> None:
        """Back home."""
        self.dismiss(None)
