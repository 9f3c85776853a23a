"""The data-entry form of one SOP step: checked as typed, previews, save in a worker."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from cellbatch.tui.forms import (
    Check,
    FieldSpec,
    batch_example,
    build_form,
    check_field,
    previews,
)
from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain

if TYPE_CHECKING:
    from cellbatch.services.queries.batch_view_model import BatchView, VialView

DISCARD_CONFIRM_SECONDS = 5.0
"""A second Esc within this time discards a form with values typed."""


class EntryScreen(AppScreen):
    """Record one step of a batch; dismisses with True once saved."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+r", "unscan", "Remove last vial"),  # thaw only (check_action)
    ]

    def __init__(self, view: BatchView, kind: str) -> None:
        from cellbatch.tui.queries import sop_of_view

        super().__init__()
        self.view = view
        """The batch as it was when the form opened."""
        self.sop = sop_of_view(view, self.cb_app.database())
        """The SOP the form is built from."""
        self.form = build_form(self.sop, kind)
        """The form's fields."""
        self.lots: dict[str, dict[str, Any]] | None = None
        """Material lots by number (loaded in a worker)."""
        self.vials: dict[int, dict[str, Any]] | None = None
        """The parent bank's vials by number, for a thaw (loaded in a worker)."""
        self._cancel_asked_at = -DISCARD_CONFIRM_SECONDS
        self.checks: dict[str, Check] = {}
        """The latest check of each field."""
        self.saved_id: int | None = None
        """The entry's id once saved."""
        self.entry_title = f"{kind} of {view.code}"
        """What the entry is, for the discard message."""
        self.scanned: list[str] = []
        """The vials scanned so far for a thaw (numbers or label scans, as read)."""
        self.fill_by: list[Any] = []
        """The running fill-by times of a dose batch (loaded in a worker)."""

    @property
    def has_unsaved(self) -> bool:
        """Whether values were typed and not saved."""
        if self.saved_id is not None:
            return False
        return bool(self.scanned) or any(i.value.strip() for i in self.query(Input))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Removing a scanned vial is for the thaw form."""
        if action == "unscan":
            return self.form.kind == "thaw"
        return True

    def compose_body(self) -> ComposeResult:
        """Title, one row per field, previews, errors and the save button."""
        with VerticalScroll(id="entry-body"):
            yield Plain(
                f"{self.view.code} · {self.form.title} · SOP {self.sop.id} v{self.sop.version}",
                classes="title",
            )
            if self.form.instructions:
                yield Plain(self.form.instructions, classes="hint")
            for f in self.form.fields:
                with Horizontal(classes="field-row"):
                    mark = " *" if f.critical else ""
                    yield Label(f"{f.label}{mark}", classes="field-label")
                    if f.kind == "choice":
                        yield Select(
                            [(c, c) for c in f.choices], id=f"f-{f.name}", classes="field-input"
                        )
                    else:
                        yield Input(
                            id=f"f-{f.name}",
                            classes="field-input",
                            placeholder=batch_example(f, self.view) or f.placeholder,
                        )
                    yield Plain(f.hint, id=f"h-{f.name}", classes="field-hint")
                if f.name == "vial_numbers":
                    yield Plain("Vials in stock: loading…", id="vial-list", classes="hint")
            yield Plain("* critical: a second person verifies it", classes="hint")
            yield Plain("", id="preview")
            yield Plain("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Save (Ctrl+S)", id="save", variant="primary", disabled=True)

    def on_mount(self) -> None:
        """Load the lot list for checking scanned lots; focus the first field."""
        self.load_lots()
        self.revalidate()
        first = self.query(".field-input").first()
        first.focus()

    @work(thread=True, exclusive=True, exit_on_error=False, name="lots")
    def load_lots(self) -> tuple[dict[str, dict[str, Any]], dict[int, VialView] | None, list]:
        """Material lots by number, the bank's vials for a thaw, the fill-by times (in a thread)."""
        from cellbatch.services.queries.batch_view import batch_view
        from cellbatch.tui.queries import deadlines_of, materials_by_lot

        db = self.cb_app.database()
        vials = None
        if self.form.kind == "thaw":
            bank = batch_view(db, self.view.dose.parent)
            vials = {v.number: v for v in bank.expansion.vials}
        fill_by = []
        if self.form.kind == "fill":
            fill_by = [d for d in deadlines_of(self.view, db) if d.what.startswith("fill by")]
        return materials_by_lot(db), vials, fill_by

    def done_lots(
        self, loaded: tuple[dict[str, dict[str, Any]], dict[int, VialView] | None, list]
    ) -> None:
        """Check the lot and vial fields again against what is on record."""
        self.lots, self.vials, self.fill_by = loaded
        self._suggest_lots()
        self.revalidate()
        self._show_vials()

    def _suggest_lots(self) -> None:
        """Each lot field completes from the lots of its kind not expired (a pick list)."""
        from textual.suggester import SuggestFromList

        today = self.cb_app.clock().date().isoformat()
        for f in self.form.fields:
            if f.kind != "lot" or not self.lots:
                continue
            usable = sorted(
                lot
                for lot, m in self.lots.items()
                if m["kind"] == f.material_kind and m["expires"] >= today
            )
            field = self.query_one(f"#f-{f.name}", Input)
            field.suggester = SuggestFromList(usable, case_sensitive=False)
            shown = ", ".join(usable[:3]) + (" …" if len(usable) > 3 else "")
            f.hint = f"scan, or type: → completes ({shown or 'none in date'})"

    def _show_vials(self) -> None:
        """The vials scanned so far, and those still in stock with their positions."""
        if self.form.kind != "thaw":
            return
        from cellbatch.tui.forms import vials_in_stock

        scanned = ", ".join(self.scanned) or "none yet (scan each vial, Enter after each)"
        stock = vials_in_stock(self.vials, exclude=self.scanned)
        self.query_one("#vial-list", Static).update(
            f"Scanned: {scanned}\nIn stock: {stock}\nCtrl+R removes the last vial scanned"
        )

    # ------------------------------------------------------------------ checking
    def _text(self, f: FieldSpec) -> str:
        if f.name == "vial_numbers":  # the list scanned so far and the scan being typed
            typed = self.query_one(f"#f-{f.name}", Input).value.strip()
            return "; ".join(self.scanned + ([typed] if typed else []))
        if f.kind == "choice":
            select = self.query_one(f"#f-{f.name}", Select)
            return "" if select.is_blank() else str(select.value)
        return self.query_one(f"#f-{f.name}", Input).value

    def revalidate(self) -> None:
        """Check every field, show each verdict at its field, the previews, and Save."""
        today = self.cb_app.clock().date().isoformat()
        values: dict[str, Any] = {}
        for f in self.form.fields:
            text = self._text(f)
            check = check_field(f, text, self.lots, today, self.vials)
            self.checks[f.name] = check
            hint = self.query_one(f"#h-{f.name}", Static)
            if not text.strip():
                hint.update(f.hint + (" · required" if f.required else ""))
                hint.set_classes("field-hint")
            else:
                hint.update(check.message)
                hint.set_classes(f"field-hint field-status-{check.state}")
            if check.state in ("ok", "warn"):
                values[f.name] = check.value
                values[f"{f.name}__text"] = text.strip()
        stock = (
            None
            if self.vials is None
            else tuple(n for n, v in sorted(self.vials.items()) if v.status == "in stock")
        )
        lines, problems = previews(
            self.sop, self.form.kind, self.view, values, self.cb_app.clock(), stock, self.fill_by
        )
        self.values = values
        self.problems = problems
        self.query_one("#preview", Static).update(
            "\n".join(lines) if lines else "Computed values appear here as you type."
        )
        wrong = [f.label for f in self.form.fields if self.checks[f.name].state == "error"]
        blocked = wrong or problems
        self.query_one("#save", Button).disabled = bool(blocked)
        self.query_one("#form-error", Static).update(
            ("Cannot save: " + "; ".join(wrong[:3] + problems)) if blocked else ""
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        """Check as typed."""
        self.revalidate()

    def on_select_changed(self, event: Select.Changed) -> None:
        """Check a chosen vessel."""
        self.revalidate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter (a scanner's too) moves to the next field; on the last field it saves.

        A wrong value keeps the cursor in its field, selected, so a rescan replaces it. The
        vial field takes one scan per vial: each accepted scan joins the list under the field
        (a wrong one stays in the field, selected, and the list is kept), and Enter with
        nothing new moves on.
        """
        name = (event.input.id or "").removeprefix("f-")
        check = self.checks.get(name)
        if check is not None and check.state == "error" and event.value.strip():
            event.input.select_all()
            return
        if name == "vial_numbers" and event.value.strip():
            # the scan was accepted with those before it: it joins the list, the field empties
            self.scanned.append(event.value.strip())
            event.input.value = ""
            self._show_vials()
            return
        inputs = list(self.query(".field-input"))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_save()

    def action_unscan(self) -> None:
        """Take the last scanned vial off the list."""
        if self.scanned:
            vial = self.scanned.pop()
            self.revalidate()
            self._show_vials()
            self.notify(f"Vial {vial} taken off the list")

    # ------------------------------------------------------------------ saving
    def on_button_pressed(self, event: Button.Pressed) -> None:
        """The Save button."""
        self.action_save()

    def action_save(self) -> None:
        """Save through the step service, if every field is right."""
        from cellbatch.tui.forms import service_arguments

        if self.saved_id is not None:
            self.dismiss(True)
            return
        self.revalidate()
        if self.query_one("#save", Button).disabled:
            self.notify("Not saved: correct the fields marked ✗ first", severity="warning")
            return
        self.query_one("#save", Button).disabled = True
        self.query_one("#form-error", Static).update("Saving…")
        self.save(service_arguments(self.form, self.values))

    @work(thread=True, exclusive=True, exit_on_error=False, name="save")
    def save(self, kwargs: dict[str, Any]) -> tuple[int, BatchView]:
        """Call the step service, then read back what was recorded (in a thread)."""
        from cellbatch.services.commands import steps
        from cellbatch.services.queries.batch_view import batch_view

        db = self.cb_app.database()
        record = getattr(steps, self.form.kind)
        entry_id = record(db, self.cb_app.actor, self.view.code, **kwargs)
        return entry_id, batch_view(db, self.view.code)

    def done_save(self, outcome: tuple[int, BatchView]) -> None:
        """Show what was recorded."""
        from cellbatch.tui.widgets.audit_text import value_text, words
        from cellbatch.tui.widgets.batch_text import q

        entry_id, view = outcome
        self.saved_id = entry_id
        entry = view.step(f"E{entry_id}")
        shown = []
        for name, value in entry.values.items():
            if hasattr(value, "display"):
                text = q(value)
            else:  # a list (vials, flags) reads as people write it, never as Python
                text = value_text(value)
            shown.append(f"{words(name)}: {text}")
        lots = ", ".join(m.lot for m in entry.materials)
        self.query_one("#form-error", Static).update("")
        self.query_one("#preview", Static).update(
            f"✓ RECORDED {entry.id} ({entry.kind}) at {entry.performed_at} by "
            f"{entry.recorded_by.full_name}\n" + "\n".join(shown) + f"\nlots: {lots}"
            "\nEnter or Ctrl+S: back to the batch"
        )
        for widget in self.query(".field-input"):
            widget.disabled = True
        button = self.query_one("#save", Button)
        button.label = "Done (Enter)"
        button.disabled = False
        button.focus()

    def failed_save(self, error: BaseException) -> None:
        """Show the refusal at its field (or above the button); nothing was saved."""
        from cellbatch.tui.errors import describe_error, field_of
        from cellbatch.tui.forms import error_field

        message = describe_error(error)
        name = field_of(error)
        target = error_field(self.form, name) if name else None
        if target is not None:
            detail = getattr(error, "message", message)
            hint = self.query_one(f"#h-{target}", Static)
            hint.update(f"✗ {detail}")
            hint.set_classes("field-hint field-status-error")
            # the form's own label, not the command line's option name
            label = next(f.label for f in self.form.fields if f.name == target)
            message = f"{label}: {detail}"
        error_line = self.query_one("#form-error", Static)
        error_line.update(f"✗ Not saved: {message}")
        self.query_one("#save", Button).disabled = False
        # the line sits under the preview, at 80 x 24 below the screen: the cursor goes to the
        # field refused (its verdict beside it, the text selected for a retype or a rescan),
        # and the refusal is also shown where it is always seen
        self.notify(f"Not saved: {message}", severity="error", timeout=10)
        if target is not None:
            field = self.query_one(f"#f-{target}")
            field.focus()
            if isinstance(field, Input):
                field.select_all()
        else:
            error_line.scroll_visible(animate=False)

    def action_cancel(self) -> None:
        """Leave without saving; with values typed, only on a second Esc within a few seconds."""
        if self.has_unsaved:
            now = time.monotonic()
            if now - self._cancel_asked_at > DISCARD_CONFIRM_SECONDS:
                self._cancel_asked_at = now
                self.notify(
                    f"{self.entry_title} is not saved: press Esc again to discard it, "
                    "Ctrl+S to save",
                    severity="warning",
                )
                return
            self.notify(f"Entry discarded: {self.entry_title} was not saved")
        self.dismiss(self.saved_id is not None)
