"""The bedside check (GMP-30) and the infusion record, for the clinic at 80 × 24.

Scan the wristband, then each barcode of the bag's label; the second person types their user
ID and password; F5 checks. The verdict, MATCH or NO MATCH with every reason, is recorded
either way. After a MATCH, F6 records the infusion.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label

from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain


class BedsideScreen(AppScreen):
    """Two people, the wristband, the bag: MATCH or NO MATCH."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f5", "check", "Check"),
        Binding("f6", "infusion", "Infusion"),
        Binding("f8", "clear", "Clear"),
    ]
    AUTO_FOCUS = "#bedside-wristband"

    def __init__(self) -> None:
        super().__init__()
        self.scans: list[str] = []
        """The bag label barcodes scanned so far."""
        self.result: Any = None
        """The last verdict."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The bedside is the clinic's."""
        actor = self.cb_app.actor
        if action in ("check", "infusion"):
            return actor is not None and actor.role.value == "clinic"
        return True

    def compose_body(self) -> ComposeResult:
        """Wristband, bag scans, second person, verdict."""
        with VerticalScroll():
            yield Plain("Bedside check: wristband and bag (two people)", classes="title")
            yield Label("Wristband (scan)")
            yield Input(id="bedside-wristband")
            yield Label("Bag label barcodes and the CoI (scan each, Enter)")
            yield Input(id="bedside-scan")
            yield Plain("No bag barcode yet.", id="bedside-scans", classes="hint")
            yield Label("Second person: user ID, then password")
            yield Input(id="bedside-second")
            yield Input(id="bedside-password", password=True)
            yield Plain("", id="bedside-verdict")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Each bag scan is kept; Enter elsewhere moves on; on the password it checks."""
        if event.input.id == "bedside-scan":
            if event.value.strip():
                self.scans.append(event.value.strip())
                event.input.value = ""
                self.query_one("#bedside-scans", Plain).update(
                    f"{len(self.scans)} barcode(s): " + " | ".join(self.scans)
                )
            else:
                self.focus_next()
        elif event.input.id == "bedside-password":
            self.action_check()
        else:
            self.focus_next()

    def action_clear(self) -> None:
        """Start again with the next patient or bag."""
        self.scans = []
        self.result = None
        for name in ("wristband", "scan", "second", "password"):
            self.query_one(f"#bedside-{name}", Input).value = ""
        self.query_one("#bedside-scans", Plain).update("No bag barcode yet.")
        self.query_one("#bedside-verdict", Plain).update("")
        self.query_one("#bedside-wristband", Input).focus()

    def action_check(self) -> None:
        """Check what was scanned."""
        second = self.query_one("#bedside-second", Input).value.strip()
        password = self.query_one("#bedside-password", Input).value
        self.query_one("#bedside-password", Input).value = ""
        self.check(self.query_one("#bedside-wristband", Input).value, list(self.scans), second,
                   password)  # fmt: skip

    @work(thread=True, exclusive=True, exit_on_error=False, name="check")
    def check(self, wristband: str, scans: list[str], second: str, password: str) -> Any:
        """The check through the service, which records it (in a thread)."""
        from cellbatch.services.commands.bedside import bedside_check

        return bedside_check(
            self.cb_app.database(), self.cb_app.actor, second, password, wristband, scans
        )

    def done_check(self, result: Any) -> None:
        """MATCH, or NO MATCH with every reason."""
        self.result = result
        if result.match:
            text = f"✓ {result.text()}\nF6: record the infusion"
        else:
            text = "✗ " + result.text().replace("; ", "\n  ✗ ")
        self.query_one("#bedside-verdict", Plain).update(text)

    def action_infusion(self) -> None:
        """Record what became of the bag of the last check."""
        from cellbatch.domain.bedside import FATES
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        if self.result is None:
            self.notify("Check the bag first (F5)", severity="warning")
            return
        # a short label left of the field, its hint under it: both whole at 80 x 24
        fields = [
            DialogField("fate", "Fate", ", ".join(FATES), checks.one_of(FATES)),
            DialogField("start", "Started", "YYYY-MM-DD HH:MM, or - if not given"),
            DialogField("stop", "Stopped", "YYYY-MM-DD HH:MM, or - if not given"),
            DialogField("volume", "Volume given", "e.g. 40 mL, or - if not given"),
            DialogField("reaction", "Reaction", "none, or its type (e.g. chills)"),
            DialogField("grade", "Reaction grade", "1 to 5, or - if no reaction",
                        checks.one_of(("1", "2", "3", "4", "5", "-"))),
            DialogField("reason", "Why not given", "why not (fully) infused, or -"),
        ]  # fmt: skip
        self.app.push_screen(
            FormDialog(f"Infusion record of {self.result.ref}", fields, save=self.record),
            lambda ref: ref and self.done_infusion(ref),
        )

    def record(self, values: dict[str, str]) -> str:
        """Record the infusion through the service (the form's worker calls it).

        A refusal keeps the form open with every value typed and names its field.
        """
        from cellbatch.domain.errors import InvalidInput
        from cellbatch.domain.timeparse import parse_datetime
        from cellbatch.services.commands.bedside import record_infusion

        given = {k: (None if v == "-" else v) for k, v in values.items()}
        if given["grade"] is not None and not given["grade"].isdigit():
            raise InvalidInput("--grade", f"expected 1 to 5 or -, got {given['grade']!r}")
        return record_infusion(
            self.cb_app.database(), self.cb_app.actor, self.result.ref, fate=values["fate"],
            started=parse_datetime(given["start"], field="--start") if given["start"] else None,
            stopped=parse_datetime(given["stop"], field="--stop") if given["stop"] else None,
            volume=given["volume"], reaction=values["reaction"],
            grade=int(given["grade"]) if given["grade"] else None, reason=given["reason"],
        )  # fmt: skip

    def done_infusion(self, ref: str) -> None:
        """Say so."""
        self.notify(f"✓ infusion record {ref}")
        self.query_one("#bedside-verdict", Plain).update(f"✓ infusion record {ref} saved")

    def action_back(self) -> None:
        """Back home."""
        self.dismiss(None)
