"""Every batch, newest first, one page at a time (the query is paged, never the table)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from cellbatch.tui.clock import iso_short
from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain

PAGE = 100
"""Batches per page."""


class BatchListScreen(AppScreen):
    """All batches, paged; Enter opens one."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f7", "page(-1)", "Page ◀"),
        Binding("f8", "page(1)", "Page ▶"),
    ]
    AUTO_FOCUS = "#batches"

    def __init__(self) -> None:
        super().__init__()
        self.first = 0
        """Index of the first batch on the page shown."""
        self.total = 0
        """How many batches there are."""

    def compose_body(self) -> ComposeResult:
        """Page line and table."""
        yield Plain("Loading…", id="page-line", classes="hint")
        yield DataTable(id="batches", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        """Columns, then the first page."""
        self.query_one("#batches", DataTable).add_columns(
            "Batch", "Kind", "Status", "SOP", "Started (UTC)", "Bank", "Recipient"
        )
        self.load(self.first)

    @work(thread=True, exclusive=True, exit_on_error=False, name="page")
    def load(self, offset: int) -> tuple[int, list]:
        """One page of batches and the count (in a thread)."""
        from cellbatch.services.batches import count_batches, list_batches

        db = self.cb_app.database()
        return count_batches(db), list_batches(db, offset=offset, limit=PAGE)

    def done_page(self, page: tuple[int, list]) -> None:
        """Show the page."""
        self.total, rows = page
        table = self.query_one("#batches", DataTable)
        table.clear()
        for b in rows:
            table.add_row(
                b.code,
                b.kind,
                b.status.upper(),
                b.sop,
                iso_short(b.started_at),
                b.parent or "",
                b.recipient or "",
                key=b.code,
            )
        last = min(self.first + PAGE, self.total)
        self.query_one("#page-line", Static).update(
            f"Batches {self.first + 1 if self.total else 0}–{last} of {self.total} "
            "(F7/F8 page, Enter opens)"
        )

    def action_page(self, delta: int) -> None:
        """Previous or next page."""
        offset = self.first + delta * PAGE
        if offset < 0 or offset >= max(self.total, 1):
            self.notify("No more batches that way")
            return
        self.first = offset
        self.load(offset)

    def action_back(self) -> None:
        """Back."""
        self.app.pop_screen()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Open the batch."""
        self.cb_app.open_batch(str(event.row_key.value))
