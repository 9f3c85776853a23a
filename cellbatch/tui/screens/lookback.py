"""Look-back and recall: forward to every vial, dose, bag and recipient, back to the donor.

From an origin forward; from a bag back to its donor and materials; QA recalls what the
look-back lists with a signature (GMP-31).
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label

from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain

HINT = (
    "Type FROM REF and Enter: donor DN-2026-0001 · tissue-lot TL-BM-0001 · material-lot "
    "CS10-5561 · bank EASC-B001 · or a dose batch (and bag) to trace back: EASC-D001 1"
)


def lookback_text(view: Any) -> str:
    """A forward look-back as lines for the screen."""
    lines = [f"Look-back from {view.origin}"]
    banks = ", ".join(f"{b.batch} {b.status}" for b in view.banks)
    lines.append(f"Banks ({len(view.banks)}): {banks}")
    in_stock = sum(1 for v in view.vials if v.state == "in stock")
    lines.append(f"Vials ({len(view.vials)}, {in_stock} in stock):")
    lines.extend(f"  {v.bank} #{v.number} {v.location}: {v.state}" for v in view.vials)
    lines.append(f"Dose batches ({len(view.doses)}):")
    lines.extend(
        f"  {d.batch} {d.status} for {d.recipient} infusion {d.infusion}" for d in view.doses
    )
    lines.append(f"Bags ({len(view.bags)}):")
    lines.extend(
        f"  {b.batch} bag {b.number} {b.din} {b.product_code}: {b.fate_text()}" for b in view.bags
    )
    lines.append(f"Recipients: {', '.join(view.recipients) or 'none'}")
    return "\n".join(lines)


def traceback_text(view: Any) -> str:
    """A backward look-back as lines for the screen."""
    lines = [f"Back from {view.dose} {view.bag or ''} (recipient {view.recipient or '-'})"]
    lines.append(f"Bank {view.bank or '-'}; vials: {'; '.join(view.vials) or '-'}")
    lines.append(f"Tissue lot {view.tissue_lot or '-'} (DIN {view.din or '-'}), donor {view.donor}")
    lines.append(f"Materials ({len(view.materials)}):")
    lines.extend(f"  {m.batch} {m.step}: {m.role} {m.lot}" for m in view.materials)
    return "\n".join(lines)


class LookbackScreen(AppScreen):
    """Trace products forward and back; QA recalls (F5)."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f5", "recall", "Recall"),
    ]
    AUTO_FOCUS = "#lookback-ref"

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[str, str] | None = None
        """The forward look-back shown (origin, ref): what a recall would hold."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only QA recalls."""
        if action == "recall":
            actor = self.cb_app.actor
            return actor is not None and actor.role.value == "qa"
        return True

    def compose_body(self) -> ComposeResult:
        """The origin field and the result."""
        with VerticalScroll():
            yield Plain("Look-back and recall (GMP-31)", classes="title")
            with Horizontal(id="scan-row"):
                yield Label("From ▸", id="scan-label")
                yield Input(id="lookback-ref", placeholder="e.g. bank EASC-B001")
            yield Plain(HINT, classes="hint")
            yield Plain("", id="lookback-result")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``FROM REF`` looks forward; ``BATCH [BAG]`` looks back."""
        words = event.value.split()
        if not words:
            return
        self.trace(words)

    @work(thread=True, exclusive=True, exit_on_error=False, name="trace")
    def trace(self, words: list[str]) -> tuple[str, Any, tuple[str, str] | None]:
        """Read the look-back (in a thread)."""
        from cellbatch.domain.errors import InvalidInput
        from cellbatch.services.queries.lookback import ORIGINS, backward, forward

        db = self.cb_app.database()
        if words[0].lower() in ORIGINS:
            if len(words) != 2:
                raise InvalidInput("From", f"expected {words[0]} and its code, e.g. bank EASC-B001")
            origin, ref = words[0].lower(), words[1]
            return "forward", forward(db, origin, ref), (origin, ref)
        if len(words) > 2 or (len(words) == 2 and not words[1].isdigit()):
            raise InvalidInput("From", "expected FROM REF, or a dose batch and its bag number")
        bag = int(words[1]) if len(words) == 2 else None
        return "backward", backward(db, words[0], bag), None

    def done_trace(self, result: tuple[str, Any, tuple[str, str] | None]) -> None:
        """Show it."""
        kind, view, origin = result
        self.last = origin
        text = lookback_text(view) if kind == "forward" else traceback_text(view)
        if kind == "forward" and self.check_action("recall", ()):
            text += "\nF5: recall all of it (a hold, signed)"
        self.query_one("#lookback-result", Plain).update(text)

    def action_recall(self) -> None:
        """QA signs the recall of what the look-back shows."""
        from cellbatch.tui.dialogs.signature import SignatureDialog

        if self.last is None:
            self.notify("Show a forward look-back first (FROM REF)", severity="warning")
            return
        origin, ref = self.last
        self.app.push_screen(
            SignatureDialog(
                f"recall of everything made from {origin} {ref.upper()} (put on hold)",
                "approved",
                self.cb_app.actor.username,
                ask_reason=True,
            ),
            lambda answer: answer and self.recall(answer.username, answer.password, answer.reason),
        )

    @work(thread=True, exclusive=True, exit_on_error=False, name="recall")
    def recall(self, username: str, password: str, reason: str) -> Any:
        """Recall through the service (in a thread)."""
        from cellbatch.services.commands.recall import recall

        origin, ref = self.last
        return recall(self.cb_app.database(), username, password, origin, ref, reason=reason)

    def done_recall(self, done: Any) -> None:
        """Say what is held."""
        given = [
            *done.given_lines(),
            *(f"Adverse-event report {a}" for a in done.adverse_events),
            *(line[0].upper() + line[1:] for line in done.adverse_events_open),
        ]
        self.query_one("#lookback-result", Plain).update(
            f"✓ RECALLED: hold {done.hold} on {', '.join(done.held)}\n"
            + "".join(f"{line}\n" for line in given)
            + "\n"
            + lookback_text(done.lookback)
        )
        self.notify(f"✓ recall: hold {done.hold} placed")

    def action_back(self) -> None:
        """Back home."""
        self.dismiss(None)
