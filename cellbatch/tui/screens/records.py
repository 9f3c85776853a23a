"""Lists the command line had alone: every deviation, the material lots, the whole audit trail.

Each screen reads through the same services as the command line (the audit trail through the
disclosure service, so that showing it is on record) and changes nothing itself.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from cellbatch.tui.clock import iso_short
from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain
from cellbatch.tui.widgets.tables import fit_columns

AUDIT_PAGE = 100
"""Audit entries per page of the whole trail."""


class RecordsScreen(AppScreen):
    """A titled table loaded in a worker; Esc goes back, F5 loads again."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f5", "reload", "Refresh"),
    ]
    AUTO_FOCUS = "#records"
    TITLE_TEXT = ""
    COLUMNS: list[tuple[str, int | None]] = []

    def compose_body(self) -> ComposeResult:
        """Title, a line about what is shown, the table."""
        yield Plain(self.TITLE_TEXT, classes="title", id="records-title")
        yield Plain("Loading…", id="records-note", classes="hint")
        yield DataTable(id="records", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        """Columns, then load."""
        super().on_mount()
        fit_columns(self.query_one("#records", DataTable), self.COLUMNS, self.app.size.width)
        self.action_reload()

    def action_reload(self) -> None:
        """Load again."""
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, name="records")
    def load(self) -> tuple[str, list[tuple[Any, ...]]]:
        """The note and the rows (in a thread)."""
        return self.rows()

    def rows(self) -> tuple[str, list[tuple[Any, ...]]]:
        """What to show (override; runs in a worker thread)."""
        return "", []

    def done_records(self, loaded: tuple[str, list[tuple[Any, ...]]]) -> None:
        """Fill the table."""
        note, rows = loaded
        self.query_one("#records-note", Static).update(note)
        table = self.query_one("#records", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*row, height=None)

    def action_back(self) -> None:
        """Back."""
        self.app.pop_screen()


class DeviationListScreen(RecordsScreen):
    """Every deviation of every batch, open ones first; Enter opens the batch's review."""

    TITLE_TEXT = "Deviations of every batch"
    COLUMNS = [("ID", 4), ("Batch", 11), ("Status", 7), ("Class", 9), ("Title · opened", None)]

    def rows(self) -> tuple[str, list[tuple[Any, ...]]]:
        """Open deviations first, then closed, oldest first (the first 500, all counted)."""
        from cellbatch.services.queries.deviations import deviation_list

        found = deviation_list(self.cb_app.database())
        devs = found.lines
        note = f"{found.total} deviations · {found.open} open (they block release) · Enter: review"
        if len(devs) < found.total:
            note += f" · the first {len(devs)} shown"
        return note, [
            (
                d.id,
                d.batch,
                d.status.upper(),
                d.classification or "—",
                f"{d.title} · opened {iso_short(d.opened_at)} by {d.opened_by}",
            )
            for d in devs
        ]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Open the review of the deviation's batch."""
        from cellbatch.tui.screens.review import ReviewScreen

        code = str(event.data_table.get_row(event.row_key)[1])
        self.app.push_screen(ReviewScreen(code), lambda _r: self.action_reload())


class MaterialListScreen(RecordsScreen):
    """Every material lot with its kind, name and expiry."""

    TITLE_TEXT = "Material lots"
    COLUMNS = [("Lot", 16), ("Kind", 20), ("Expires", 10), ("Name", None)]

    def rows(self) -> tuple[str, list[tuple[Any, ...]]]:
        """Lots by expiry, soonest first; expired ones say so."""
        from cellbatch.services.queries.donors import list_materials

        today = self.cb_app.clock().date().isoformat()
        lots = list_materials(self.cb_app.database())
        expired = sum(1 for m in lots if m["expires"] < today)
        return f"{len(lots)} lots · {expired} expired", [
            (
                m["lot"],
                m["kind"],
                m["expires"],
                ("EXPIRED · " if m["expires"] < today else "") + m["name"],
            )
            for m in lots
        ]


class AuditTrailScreen(RecordsScreen):
    """The whole audit trail, a page at a time, and its verification (F2)."""

    BINDINGS = [
        *RecordsScreen.BINDINGS,
        Binding("f2", "verify", "Verify"),
        Binding("f7", "page(-1)", "Page ◀"),
        Binding("f8", "page(1)", "Page ▶"),
    ]
    TITLE_TEXT = "Audit trail of the whole database"
    COLUMNS = [("#", 6), ("UTC · user", 16), ("Change · old → new · reason", None)]

    def __init__(self) -> None:
        super().__init__()
        self.first = 0
        """First entry of the page shown."""
        self.total = 0
        """How many entries the trail has."""

    def rows(self) -> tuple[str, list[tuple[Any, ...]]]:
        """One page, read through the disclosure service (the showing is recorded)."""
        from cellbatch.services.commands.disclosures import show_audit_trail
        from cellbatch.services.queries.audit import count_entries
        from cellbatch.tui.widgets.audit_text import audit_lines

        db = self.cb_app.database()
        self.total = count_entries(db)
        entries, _recorded = show_audit_trail(
            db, self.cb_app.actor, offset=self.first, limit=AUDIT_PAGE
        )
        last = self.first + len(entries)
        note = (
            f"Entries {self.first + 1}–{last} of {self.total} · F7/F8 page · "
            "F2 verifies the whole trail"
        )
        return note, [
            (str(e.seq), f"{iso_short(e.at)}\n{e.username}", "\n".join(audit_lines(e)))
            for e in entries
        ]

    def action_page(self, delta: int) -> None:
        """Previous or next page."""
        first = self.first + delta * AUDIT_PAGE
        if first < 0 or first >= max(self.total, 1):
            self.notify("No more audit entries that way")
            return
        self.first = first
        self.action_reload()

    def action_verify(self) -> None:
        """Check the whole chain (as `cellbatch audit verify`)."""
        self.query_one("#records-note", Static).update("Verifying the whole trail…")
        self.verify()

    @work(thread=True, exclusive=True, exit_on_error=False, name="verify")
    def verify(self) -> Any:
        """Prove the trail (in a thread)."""
        from cellbatch.services.queries.audit import verify_trail

        return verify_trail(self.cb_app.database())

    def done_verify(self, report: Any) -> None:
        """Say whether the trail is intact, and the first problems if not."""
        if report.ok:
            text = (
                f"✓ INTACT: {report.entries_checked} entries and {report.rows_checked} rows "
                "proved; nothing altered outside the program"
            )
        else:
            text = f"✗ {len(report.problems)} PROBLEMS: " + "; ".join(report.problems[:3])
        notes = "; ".join(report.notes[:2])
        self.query_one("#records-note", Static).update(text + (f" ({notes})" if notes else ""))

    def failed_verify(self, error: BaseException) -> None:
        """Say why the trail could not be verified."""
        from cellbatch.tui.errors import describe_error

        self.query_one("#records-note", Static).update(f"✗ not verified: {describe_error(error)}")


class DonorScreen(AppScreen):
    """One donor: details, eligibility and marker results; F2 records a test, F3 decides."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f2", "test", "Record test"),
        Binding("f3", "eligibility", "Eligibility"),
        Binding("f5", "reload", "Refresh"),
    ]
    AUTO_FOCUS = "#donor-tests"

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code
        """The donor shown."""

    def compose_body(self) -> ComposeResult:
        """Details, then the marker results."""
        yield Plain(f"Donor {self.code}: loading…", id="donor-details", classes="title")
        yield Plain("Infectious-disease markers", classes="section")
        yield DataTable(id="donor-tests", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        """Columns, then load."""
        super().on_mount()
        fit_columns(
            self.query_one("#donor-tests", DataTable),
            [("Marker", None), ("Result", 10), ("Sampled", 10)],
            self.app.size.width,
        )
        self.action_reload()

    def action_reload(self) -> None:
        """Load again."""
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, name="donor")
    def load(self) -> Any:
        """The donor (in a thread)."""
        from cellbatch.services.queries.donors import donor_view

        return donor_view(self.cb_app.database(), self.code)

    def done_donor(self, donor: Any) -> None:
        """Show the donor."""
        self.code = donor.code
        self.query_one("#donor-details", Static).update(
            f"Donor {donor.code} · {donor.relationship} · {donor.sex} · born {donor.birth_year}"
            f"\nEligibility: {donor.eligibility.upper()}  (F2 record a test · F3 determine)"
        )
        table = self.query_one("#donor-tests", DataTable)
        table.clear()
        for t in donor.tests:
            result = "✗ REACTIVE" if t.result == "reactive" else "✓ negative"
            table.add_row(t.marker, result, t.sampled)
        if not donor.tests:
            table.add_row("no marker result recorded yet", "", "")

    def failed_donor(self, error: BaseException) -> None:
        """Say why the donor cannot be shown."""
        from cellbatch.tui.errors import describe_error

        self.query_one("#donor-details", Static).update(f"✗ {describe_error(error)} (Esc)")

    def action_test(self) -> None:
        """Record a marker result with its sample date."""
        from cellbatch.services.commands.donors import MARKER_RESULTS
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        fields = [
            DialogField("marker", "Marker", "e.g. HIV-1/2 Ab", checks.one_line("the marker name")),
            DialogField(
                "result",
                "Result",
                " or ".join(MARKER_RESULTS),
                checks.one_of(MARKER_RESULTS),
                suggestions=MARKER_RESULTS,
            ),
            DialogField("sampled", "Sampled on", "YYYY-MM-DD", checks.date_value()),
        ]
        self.app.push_screen(
            FormDialog(f"Marker result of donor {self.code}", fields, save=self._save_test),
            self._saved,
        )

    def _save_test(self, values: dict[str, Any]) -> str:
        from cellbatch.services.commands.donors import record_donor_test

        record_donor_test(
            self.cb_app.database(),
            self.cb_app.actor,
            self.code,
            marker=values["marker"],
            result=values["result"],
            sampled=values["sampled"],
        )
        return f"✓ {values['marker']} {values['result']} recorded for {self.code}"

    def action_eligibility(self) -> None:
        """Determine eligibility (a supervisor or QA), with the basis."""
        from cellbatch.services.commands.donors import ELIGIBILITY
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        fields = [
            DialogField(
                "status",
                "Eligibility",
                ", ".join(ELIGIBILITY),
                checks.one_of(ELIGIBILITY),
                suggestions=ELIGIBILITY,
            ),
            DialogField(
                "reason",
                "Basis",
                "what the determination rests on",
                checks.free_text("the basis of the determination"),
            ),
        ]
        self.app.push_screen(
            FormDialog(f"Eligibility of donor {self.code}", fields, save=self._save_status),
            self._saved,
        )

    def _save_status(self, values: dict[str, Any]) -> str:
        from cellbatch.services.commands.donors import set_eligibility

        set_eligibility(
            self.cb_app.database(),
            self.cb_app.actor,
            self.code,
            values["status"],
            values["reason"],
        )
        return f"✓ donor {self.code} is now {values['status']}"

    def _saved(self, message: str | None) -> None:
        if message:
            self.notify(message)
            self.action_reload()

    def action_back(self) -> None:
        """Back."""
        self.app.pop_screen()


class SopListScreen(RecordsScreen):
    """The SOPs on disk, their approval in cellbatch; Enter shows the text, F2 approves (QA)."""

    BINDINGS = [*RecordsScreen.BINDINGS, Binding("f2", "approve", "Approve")]
    TITLE_TEXT = "SOPs"
    COLUMNS = [("SOP", 18), ("Ver.", 5), ("Kind", 9), ("Approved in cellbatch", None)]

    def rows(self) -> tuple[str, list[tuple[Any, ...]]]:
        """Each SOP version with its approval."""
        from cellbatch.services.queries.sops import approvals, available_sops, sop_summary

        found = approvals(self.cb_app.database())
        rows = []
        for s in (sop_summary(s) for s in available_sops()):
            signed = found.get((s["id"], s["version"]))
            if signed is not None and signed.content_hash == s["content_hash"]:
                state = f"✓ by {signed.username} {signed.signed_at[:10]}"
            else:
                state = f"✗ not approved (file: {s['status']})"
            rows.append((s["id"], s["version"], s["kind"], state))
        return "Enter: the SOP's steps, parameters and QC · F2: approve (QA signs)", rows

    def _selected(self) -> tuple[str, str] | None:
        table = self.query_one("#records", DataTable)
        if not table.row_count:
            return None
        row = table.get_row_at(table.cursor_row)
        return str(row[0]), str(row[1])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Show the SOP's text."""
        picked = self._selected()
        if picked is not None:
            self.app.push_screen(SopTextScreen(*picked))

    def action_approve(self) -> None:
        """QA approves the highlighted SOP version with a signature."""
        from cellbatch.tui.dialogs.signature import SignatureDialog

        picked = self._selected()
        actor = self.cb_app.actor
        if picked is None or actor is None:
            return
        sop_id, version = picked
        self.app.push_screen(
            SignatureDialog(
                f"{sop_id} version {version} (its content as on disk, by its hash)",
                "approved",
                actor.username,
                sign=lambda answer: self._approve(sop_id, version, answer),
            ),
            self._approved,
        )

    def _approve(self, sop_id: str, version: str, answer: Any) -> str:
        from cellbatch.services.commands.sops import approve_sop

        approve_sop(self.cb_app.database(), answer.username, answer.password, sop_id, version)
        return f"✓ {sop_id} v{version} approved (signature recorded)"

    def _approved(self, message: str | None) -> None:
        if message:
            self.notify(message)
            self.action_reload()


class SopTextScreen(AppScreen):
    """One SOP as written: steps, parameters with unit and range, QC specifications."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, sop_id: str, version: str) -> None:
        super().__init__()
        self.sop_id = sop_id
        """The SOP shown."""
        self.version = version
        """Its version."""

    def compose_body(self) -> ComposeResult:
        """The text, scrollable by keyboard."""
        from textual.containers import VerticalScroll

        with VerticalScroll(id="sop-text-scroll"):
            yield Plain(f"{self.sop_id} v{self.version}: loading…", id="sop-text")

    def on_mount(self) -> None:
        """Load and focus the text so arrows and PgUp/PgDn scroll it."""
        super().on_mount()
        self.query_one("#sop-text-scroll").focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, name="sop-text")
    def load(self) -> dict[str, Any]:
        """The SOP described (in a thread)."""
        from cellbatch.services.queries.sops import describe_sop

        return describe_sop(self.sop_id, self.version)

    def done_sop_text(self, sop: dict[str, Any]) -> None:
        """Write it out."""
        lines = [f"{sop['id']} v{sop['version']} · {sop['title']} · {sop['status'].upper()}"]
        for step in sop["steps"]:
            lines.append(f"\n{step['title']} ({step['kind']})")
            if step["materials"]:
                lines.append("  materials: " + ", ".join(step["materials"]))
            for p in step["parameters"]:
                mark = " · critical *" if p["critical"] else ""
                lines.append(f"  {p['label']}: {p['range']}{mark}")
        lines.append("\n* critical: a second person verifies the entry")
        lines.append("\nQC")
        for t in sop["qc"]:
            release = " · required for release" if t["required_for_release"] else ""
            lines.append(f"  {t['name']} ({t['stage']}): {t['spec']}{release}")
        self.query_one("#sop-text", Static).update("\n".join(lines))

    def action_back(self) -> None:
        """Back."""
        self.app.pop_screen()
