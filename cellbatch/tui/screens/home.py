"""Home, by role: the technician's work in process, running windows and lots; QA's queue."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Input, Label, Static

from cellbatch.tui.clock import countdown, short_time
from cellbatch.tui.queries import PickLists
from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain
from cellbatch.tui.widgets.tables import fit_columns

if TYPE_CHECKING:
    from cellbatch.services.queries.home import HomeData

STEP_NAMES = {
    "seed": "seed (new passage)",
    "harvest": "harvest",
    "freeze": "freeze the bank",
    "thaw": "thaw",
    "fucosylation": "fucosylate",
    "fill": "formulate and fill",
}
"""How each step kind reads in a list of what is due."""


DEVIATIONS_TITLE = "Open deviations (they block release)"


def due_text(next_steps: list[str]) -> str:
    """``harvest or freeze the bank``; ``QA decision`` when no step is left."""
    if not next_steps:
        return "all steps done: QC / QA decision"
    return " or ".join(STEP_NAMES.get(k, k) for k in next_steps)


def _count(n: int, noun: str) -> str:
    """``1 open deviation``, ``2 open deviations``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class HomeScreen(AppScreen):
    """What the logged-in user has to do now."""

    AUTO_FOCUS = "#scan"
    BINDINGS = [
        Binding("f2", "scan", "Open batch"),
        Binding("f3", "batches", "Batches"),
        Binding("f4", "new_batch", "New"),
        # also offered by F4's list, which names these keys
        Binding("f7", "new_lot", "New lot", show=False),
        Binding("f8", "receive_tissue", "Receive tissue", show=False),
        Binding("f9", "new_donor", "New donor", show=False),
        Binding("f5", "reload", "Refresh", show=False),
        Binding("f6", "admin", "Admin"),
        Binding("f10", "recipients", "Recipients", show=False),  # in the palette ("Menu")
        Binding("f11", "lookback", "Look-back", show=False),
        Binding("f12", "bedside", "Bedside", show=False),
        Binding("ctrl+o", "app.logout", "Log out", priority=True),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer starting batches and lots to those who record, administration to admins."""
        actor = self.cb_app.actor
        role = actor.role.value if actor else ""
        if action in ("new_batch", "new_lot", "receive_tissue", "new_donor"):
            return role in ("technician", "supervisor")
        if action == "admin":
            return role == "admin"
        return True

    def __init__(self) -> None:
        super().__init__()
        self.data: HomeData | None = None
        """What was last loaded."""
        self.received = ""
        """The last tissue lot received here with its DIN, kept atop the summary (the reload
        that follows the dialog's closing would otherwise write over it)."""

    def compose_body(self) -> ComposeResult:
        """Scan field, then the role's lists."""
        with VerticalScroll(id="home-body"):
            with Horizontal(id="scan-row"):
                yield Label("Batch ▸", id="scan-label")
                yield Input(id="scan", placeholder="scan or type a batch code, Enter")
            yield Plain("Loading…", id="home-summary", classes="hint")
            sections = [
                # shown only while a report is open, to the clinic and QA (services decide)
                ("Adverse-event reports open (Enter: assess, close)", "adverse"),
                ("Batches in process — next step due", "in-process"),
                ("To make today for planned infusions (UTC)", "make-today"),
                ("Running windows (time left)", "windows"),
                ("Waiting for QC / QA decision", "awaiting"),
                ("Entries waiting for a second person's verification", "verifications"),
                (DEVIATIONS_TITLE, "deviations"),
                ("Material lots expired or expiring within 30 days", "lots"),
            ]
            actor = self.cb_app.actor
            if actor is not None and actor.role.value == "qa":  # QA's queues first
                queues = ("awaiting", "deviations", "verifications")
                qa_first = [next(s for s in sections if s[1] == q) for q in queues]
                sections = qa_first + [s for s in sections if s not in qa_first]
            for title, table_id in sections:
                yield Plain(title, id=f"{table_id}-title", classes="section")
                yield DataTable(id=table_id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        """Set up the tables and load."""
        self.query_one("#in-process", DataTable).add_columns("Batch", "Kind", "Last", "Next due")
        self.query_one("#windows", DataTable).add_columns(
            "Batch", "Recipient", "Window", "Due (UTC)", "Time left"
        )
        self.query_one("#awaiting", DataTable).add_columns("Batch", "Kind", "SOP", "Last")
        self.query_one("#make-today", DataTable).add_columns(
            "Recipient", "Inf.", "Thaw from", "Fill by", "Infusion", "Batch"
        )
        self.query_one("#lots", DataTable).add_columns("Lot", "Kind", "Expires", "State")
        fit_columns(
            self.query_one("#adverse", DataTable),
            [("Report", 6), ("Recipient", 9), ("Batch", 10), ("What", None)],
            self.app.size.width,
        )
        self.query_one("#adverse", DataTable).display = False
        self.query_one("#adverse-title").display = False
        self.query_one("#verifications", DataTable).add_columns("Batch", "Entry", "What", "Status")
        fit_columns(
            self.query_one("#deviations", DataTable),
            [("Batch", 10), ("ID", 3), ("Class", 12), ("Title", None)],
            self.app.size.width,
        )
        self.set_interval(30.0, self.show_windows)
        self.reload()

    def on_screen_resume(self) -> None:
        """Back on top after a batch or a review: show what was recorded meanwhile."""
        if self.data is not None:
            self.reload()

    def reload(self) -> None:
        """Load again from the database."""
        actor = self.cb_app.actor
        if actor is not None:
            self.load(actor, self.cb_app.clock().date())
            self.load_plans(self.cb_app.clock().date())

    @work(thread=True, exclusive=True, exit_on_error=False, name="make-today", group="plans")
    def load_plans(self, today: date) -> list:
        """The doses the treatment plans need made today (in a thread)."""
        from cellbatch.services.queries.plans import due_today

        return due_today(self.cb_app.database(), today)

    def done_make_today(self, due: list) -> None:
        """Fill the table of what to make today, soonest fill first."""
        table = self.query_one("#make-today", DataTable)
        table.clear()
        for i, d in enumerate(due):
            table.add_row(
                d.recipient, str(d.infusion), f"{d.thaw_from:%m-%d %H:%M}",
                f"{d.fill_by:%m-%d %H:%M}", f"{d.planned_at:%m-%d %H:%M}",
                d.batch or "not started", key=f"plan-{i}",
            )  # fmt: skip

    @work(thread=True, exclusive=True, exit_on_error=False, name="home")
    def load(self, actor, today: date) -> HomeData:
        """Gather the home screen's data (in a thread)."""
        from cellbatch.tui.queries import home_data

        return home_data(self.cb_app.database(), actor, today)

    def done_home(self, data: HomeData) -> None:
        """Fill the tables."""
        self.data = data
        summary = (
            f"{len(data.in_process)} in process · {len(data.awaiting_decision)} for QA · "
            f"{len(data.deadlines)} windows · {len(data.verifications)} to verify · "
            f"{_count(data.open_deviations, 'open deviation')}"
        )
        actor = self.cb_app.actor
        if actor is not None and actor.role.value in ("qa", "admin"):
            from cellbatch.services.queries.nightly import nightly_line

            line = nightly_line()  # the deployment's nightly audit verify and backup
            if line is not None:
                summary += "\n" + line
        if self.received:
            summary = f"{self.received}\n{summary}"
        self.query_one("#home-summary", Static).update(summary)
        table = self.query_one("#in-process", DataTable)
        table.clear()
        for b in data.in_process:
            table.add_row(b.code, b.kind, b.last_step, due_text(b.next_steps), key=b.code)
        table = self.query_one("#awaiting", DataTable)
        table.clear()
        for b in data.awaiting_decision:
            table.add_row(b.code, b.kind, b.sop, b.last_step, key=b.code)
        table = self.query_one("#verifications", DataTable)
        table.clear()
        for v in data.verifications:
            table.add_row(v.batch, v.ref, v.what, v.status.upper(), key=f"{v.batch}/{v.ref}")
        shown = len(data.deviations)
        self.query_one("#deviations-title", Plain).update(
            DEVIATIONS_TITLE
            if shown == data.open_deviations
            else f"{DEVIATIONS_TITLE}: the newest {shown} of {data.open_deviations}"
        )
        table = self.query_one("#deviations", DataTable)
        table.clear()
        for d in data.deviations:
            table.add_row(
                d.batch, d.id, d.classification, d.title, key=f"{d.batch}/{d.id}", height=None
            )
        table = self.query_one("#adverse", DataTable)
        table.clear()
        for r in data.adverse_events:
            what = r.description if r.state == "open" else f"[ASSESSED] {r.description}"
            table.add_row(r.ref, r.recipient, r.batch, what, key=r.ref, height=None)
        table.display = self.query_one("#adverse-title").display = bool(data.adverse_events)
        table = self.query_one("#lots", DataTable)
        table.clear()
        today = self.cb_app.clock().date()
        for lot in data.lots:
            days = (lot.expires - today).days
            state = f"EXPIRED {-days} d ago" if days < 0 else f"{days} days left"
            table.add_row(lot.lot, lot.kind, lot.expires.isoformat(), state, key=lot.lot)
        self.show_windows()

    def show_windows(self) -> None:
        """Redraw the countdowns against the clock."""
        if self.data is None:
            return
        now = self.cb_app.clock()
        table = self.query_one("#windows", DataTable)
        table.clear()
        for i, d in enumerate(self.data.deadlines):
            left = countdown((d.due - now).total_seconds())
            table.add_row(d.code, d.recipient, d.what, short_time(d.due)[5:-4], left, key=str(i))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """A scanned or typed batch code opens the batch; a scanned DIN opens its batch."""
        text = event.value.strip()
        event.input.value = ""
        if text.startswith("="):  # a DIN barcode (Data Structure 001): the bag's batch
            self.find_din(text)
        elif text:
            self.cb_app.open_batch(text.upper())

    @work(thread=True, exclusive=True, exit_on_error=False, name="din")
    def find_din(self, scan: str) -> tuple[str, list[str]]:
        """The batches a scanned DIN names (in a thread)."""
        from cellbatch.isbt128 import parse_din
        from cellbatch.services.queries.batches import batches_of_din

        din, _flags = parse_din(scan, field="DIN scan")
        return din.code, batches_of_din(self.cb_app.database(), din.code)

    def done_din(self, found: tuple[str, list[str]]) -> None:
        """Open the one batch, or ask which of several (the doses of one donation)."""
        from cellbatch.tui.dialogs.choice import ChoiceDialog

        din, codes = found
        if not codes:
            self.notify(f"No bag or bank carries the DIN {din}", severity="warning")
        elif len(codes) == 1:
            self.cb_app.open_batch(codes[0])
        else:
            self.app.push_screen(
                ChoiceDialog(f"DIN {din}: which batch?", [(c, c) for c in codes]),
                lambda code: code and self.cb_app.open_batch(code),
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a batch row opens it."""
        if event.data_table.id in ("verifications", "deviations"):
            from cellbatch.tui.screens.review import ReviewScreen

            code = event.data_table.get_row(event.row_key)[0]
            self.app.push_screen(ReviewScreen(str(code)), lambda _r: self.reload())
        elif event.data_table.id == "adverse":
            from cellbatch.tui.screens.adverse_event import AdverseEventScreen

            ref = event.data_table.get_row(event.row_key)[0]
            self.app.push_screen(AdverseEventScreen(str(ref)), lambda _r: self.reload())
        elif event.data_table.id == "make-today":
            batch = event.data_table.get_row(event.row_key)[5]
            if batch != "not started":
                self.cb_app.open_batch(str(batch))
        elif event.data_table.id in ("in-process", "awaiting", "windows"):
            code = event.data_table.get_row(event.row_key)[0]
            self.cb_app.open_batch(str(code))

    def action_scan(self) -> None:
        """Put the cursor in the scan field."""
        self.query_one("#scan", Input).focus()

    def action_batches(self) -> None:
        """Every batch, paged."""
        self.cb_app.open_batch_list()

    def action_reload(self) -> None:
        """Load again."""
        self.reload()

    def action_new_lot(self) -> None:
        """Register a material lot (reagent, medium...) with its expiry."""
        from cellbatch.domain.sop import MATERIAL_KINDS
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        fields = [
            DialogField(
                "lot", "Lot number", "scan the supplier's lot", checks.supplier_lot(), ("LOT",)
            ),
            DialogField(
                "kind",
                "Kind",
                ", ".join(MATERIAL_KINDS),
                checks.one_of(MATERIAL_KINDS),
                ("--kind",),
                suggestions=MATERIAL_KINDS,
            ),
            DialogField(
                "name", "Material name", "as on the label", checks.one_line("the material's name")
            ),
            DialogField("expires", "Expiry date", "YYYY-MM-DD", checks.date_value()),
        ]
        self.app.push_screen(
            FormDialog("Register a material lot", fields, save=self._save_lot), self._lot_saved
        )

    def _save_lot(self, values: dict[str, Any]) -> str:
        """Register the lot through the service (in the dialog's worker)."""
        from cellbatch.services.commands.donors import add_material

        add_material(
            self.cb_app.database(),
            self.cb_app.actor,
            values["lot"],
            kind=values["kind"],
            name=values["name"],
            expires=values["expires"],
        )
        return values["lot"]

    def _lot_saved(self, lot: str | None) -> None:
        """Say so and reload (the lot may expire soon)."""
        if lot:
            self.notify(f"✓ material lot {lot} registered")
            self.reload()

    def action_new_donor(self) -> None:
        """Register a donor by pseudonymous code (eligibility starts as pending)."""
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        fields = [
            DialogField(
                "code",
                "Donor code",
                "pseudonymous, never a name",
                checks.code("a pseudonymous code (never a name)"),
                ("CODE",),
            ),
            DialogField(
                "relationship",
                "Relationship",
                "to the recipient, e.g. mother or unrelated",
                checks.one_line("the relationship to the recipient"),
            ),
            DialogField("sex", "Sex", "F or M", checks.one_of(("F", "M"), upper=True)),
            DialogField("birth_year", "Birth year", "e.g. 1985", checks.whole_number()),
        ]
        self.app.push_screen(
            FormDialog("Register a donor", fields, save=self._save_donor), self._donor_saved
        )

    def _save_donor(self, values: dict[str, Any]) -> str:
        """Register the donor through the service (in the dialog's worker)."""
        from cellbatch.services.commands.donors import add_donor

        return add_donor(
            self.cb_app.database(),
            self.cb_app.actor,
            values["code"],
            relationship=values["relationship"],
            sex=values["sex"],
            birth_year=values["birth_year"],
        )

    def _donor_saved(self, code: str | None) -> None:
        """Say so."""
        if code:
            self.notify(f"✓ donor {code} registered; eligibility pending until determined")

    def action_receive_tissue(self) -> None:
        """Receive a donation: its DIN is assigned now and shown."""
        from cellbatch.services.commands.donors import TISSUES
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        def amount(text: str):
            tissue = dialog.query_one("#form-tissue").value.strip()  # type: ignore[attr-defined]
            measure = {"bone-marrow": "volume", "adipose": "mass"}.get(tissue)
            if measure is None:  # no tissue yet: a volume or a mass
                first = checks.quantity("volume")(text)
                return first if first.state == "ok" else checks.quantity("mass")(text)
            return checks.quantity(measure)(text)

        fields = [
            DialogField("lot", "Tissue lot", "scan the lot number", checks.code(), ("LOT",)),
            DialogField("donor", "Donor code", "scan", checks.code(), ("--donor",)),
            DialogField(
                "tissue",
                "Tissue",
                " or ".join(TISSUES),
                checks.one_of(tuple(TISSUES)),
                suggestions=tuple(TISSUES),
            ),
            DialogField("amount", "Amount received", "mL of marrow, g of fat", amount),
            DialogField(
                "collected",
                "Collected at",
                "YYYY-MM-DD HH:MM",
                checks.date_time(),
                ("--collected",),
            ),
            DialogField(
                "temperature",
                "Receipt temperature",
                "e.g. 6 °C",
                checks.quantity("temperature"),
                ("--temperature",),
            ),
        ]
        dialog = FormDialog("Receive a tissue lot", fields, save=self._save_receipt)
        self.app.push_screen(dialog, self._received)

    def _save_receipt(self, values: dict[str, Any]) -> str:
        """Receive the lot through the service; returns the DIN as printed (in a worker)."""
        from cellbatch import units
        from cellbatch.services.commands.donors import receive_tissue_lot
        from cellbatch.tui.widgets.batch_text import din_text

        measure = "volume" if values["tissue"] == "bone-marrow" else "mass"
        din = receive_tissue_lot(
            self.cb_app.database(),
            self.cb_app.actor,
            values["lot"],
            donor_code=values["donor"],
            tissue=values["tissue"],
            amount=units.parse(values["amount"], measure, field="--amount"),
            collected=values["collected"],
            receipt_temperature=units.parse(
                values["temperature"], "temperature", field="--temperature"
            ),
        )
        return f"{values['lot']}: DIN {din_text(din)}"

    def _received(self, what: str | None) -> None:
        """Show the DIN assigned."""
        if what:
            self.received = f"✓ tissue lot received · {what}"
            self.notify(self.received, timeout=20)
            self.query_one("#home-summary", Plain).update(self.received)

    def action_new_batch(self) -> None:
        """Start a bank or a dose batch, or register a lot, a tissue receipt or a donor."""
        from cellbatch.tui.dialogs.choice import ChoiceDialog

        choices = [
            ("expansion", "Expansion batch (a bank) from a tissue lot"),
            ("dose", "Dose batch for one recipient from a released bank"),
            ("lot", "Material lot: reagent, medium… with its expiry   (F7)"),
            ("tissue", "Tissue lot received: assigns its DIN   (F8)"),
            ("donor", "Donor   (F9)"),
        ]
        self.app.push_screen(ChoiceDialog("New…", choices), self._ask_batch)

    def _ask_batch(self, kind: str | None) -> None:
        other = {
            "lot": self.action_new_lot,
            "tissue": self.action_receive_tissue,
            "donor": self.action_new_donor,
        }
        if kind in other:
            other[kind]()
        elif kind in ("expansion", "dose"):
            self.load_picks(kind)

    @work(thread=True, exclusive=True, exit_on_error=False, name="picks")
    def load_picks(self, kind: str) -> tuple[str, PickLists]:
        """What a new batch's fields pick from (in a thread)."""
        from cellbatch.tui.queries import pick_lists

        return kind, pick_lists(self.cb_app.database(), kind)

    def done_picks(self, loaded: tuple[str, PickLists]) -> None:
        """Open the dialog of the batch to start, its pick lists filled."""
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        kind, picks = loaded
        sops = picks.sops
        sop = DialogField(
            "sop_id",
            "SOP",
            "approved: " + (", ".join(sops) or "none"),
            checks.on_list(lambda: sops, "an approved SOP"),
            ("--sop", "SOP"),
            suggestions=sops,
            value=sops[0] if len(sops) == 1 else "",  # the one approved SOP is filled in
        )
        code = DialogField(
            "code", "New batch code", f"e.g. {picks.example_code}", checks.code(), ("BATCH",)
        )
        if kind == "expansion":
            fields = [
                code,
                DialogField(
                    "lot_number", "Tissue lot", "scan the lot", checks.code(), ("--lot", "LOT")
                ),
                sop,
            ]
        else:
            banks = picks.banks
            fields = [
                code,
                DialogField(
                    "parent",
                    "Released bank",
                    "released: " + (", ".join(banks[:5]) or "none"),
                    checks.on_list(lambda: banks, "a released bank"),
                    ("--parent",),
                    suggestions=banks,
                ),
                sop,
                DialogField(
                    "recipient",
                    "Recipient",
                    "registered: " + (", ".join(picks.recipients[:5]) or "none"),
                    checks.on_list(lambda: picks.recipients, "a registered recipient"),
                    ("--recipient",),
                    suggestions=picks.recipients,
                ),
                DialogField(
                    "weight",
                    "Body weight",
                    "blank: the weight on record; typed, it must be that one",
                    checks.quantity("mass_body"),
                    required=False,
                ),
                DialogField(
                    "dose",
                    "Dose per kg",
                    "blank: the plan's (the cohort dose); typed, it must be that one",
                    checks.quantity("cells_per_kg"),
                    required=False,
                ),
                DialogField(
                    "infusion",
                    "Infusion number",
                    "blank: the plan's next; the SOP gives its day",
                    checks.whole_number(1),
                    required=False,
                ),
            ]
        title = f"Start {'an expansion' if kind == 'expansion' else 'a dose'} batch"
        self.app.push_screen(
            FormDialog(title, fields, save=lambda values: self._start(kind, values)),
            self._started,
        )

    def _start(self, kind: str, values: dict[str, Any]) -> str:
        """Start the batch through the service (in the dialog's worker)."""
        from cellbatch.services.commands.batches import start_dose, start_expansion

        db, actor = self.cb_app.database(), self.cb_app.actor
        if kind == "expansion":
            return start_expansion(
                db, actor, values["code"], lot_number=values["lot_number"], sop_id=values["sop_id"]
            )
        return start_dose(
            db,
            actor,
            values["code"],
            parent=values["parent"],
            sop_id=values["sop_id"],
            recipient=values["recipient"],
            weight=values["weight"] or None,
            dose=values["dose"] or None,
            infusion=values["infusion"] or None,
        )

    def _started(self, code: str | None) -> None:
        """Open the new batch."""
        if code:
            self.notify(f"✓ {code} started")
            self.reload()
            self.cb_app.open_batch(code)

    def action_admin(self) -> None:
        """Users and SOPs, for an admin."""
        actor = self.cb_app.actor
        if actor is None or actor.role.value != "admin":
            self.notify("Administration is for the admin role", severity="warning")
            return
        self.cb_app.open_admin()

    def action_recipients(self) -> None:
        """The registered recipients (the clinic registers, weighs, identifies)."""
        from cellbatch.tui.screens.recipients import RecipientsScreen

        self.app.push_screen(RecipientsScreen())

    def action_lookback(self) -> None:
        """Look-back forward and back; QA's recall."""
        from cellbatch.tui.screens.lookback import LookbackScreen

        self.app.push_screen(LookbackScreen())

    def action_bedside(self) -> None:
        """The bedside check and the infusion record (the clinic)."""
        from cellbatch.tui.screens.bedside import BedsideScreen

        self.app.push_screen(BedsideScreen())

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Home's actions."""
        yield SystemCommand("Open a batch", "Scan or type its code", self.action_scan)
        yield SystemCommand("Recipients   (F10)", "Pseudonymous list", self.action_recipients)
        yield SystemCommand("Look-back and recall   (F11)", "GMP-31", self.action_lookback)
        if self.cb_app.actor is not None and self.cb_app.actor.role.value == "clinic":
            yield SystemCommand("Bedside check   (F12)", "Wristband and bag", self.action_bedside)
        yield SystemCommand("Refresh home", "Load again from the database", self.action_reload)
        actor = self.cb_app.actor
        if actor is not None and actor.role.value in ("technician", "supervisor"):
            yield SystemCommand("Start a batch", "Bank or dose", self.action_new_batch)
            yield SystemCommand("Register a material lot", "Scan it", self.action_new_lot)
            yield SystemCommand("Receive a tissue lot", "DIN assigned", self.action_receive_tissue)
            yield SystemCommand("Register a donor", "Pseudonymous code", self.action_new_donor)
