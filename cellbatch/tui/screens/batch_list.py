"""Every batch, newest first, one page at a time (the query is paged, never the table).

Pages are read by key, not by offset: the next page is the one after the last batch shown
(``list_batches(after=...)``, through the index on ``(started_at, id)``), and the screen keeps
the batch each page it showed started after, so going back reads a page the same way. The
last page of thirty years of batches costs what the first does (issue 15); an offset walked
every batch it skipped.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from cellbatch.tui.clock import iso_short
from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain
from cellbatch.tui.widgets.tables import fit_columns

PAGE = 100
"""Batches per page."""
STATUSES = (None, "in-process", "quarantine", "released", "rejected")
"""The status filter cycles through these (None: every batch)."""


class BatchListScreen(AppScreen):
    """All batches, paged; Enter opens one."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f7", "page(-1)", "Page ◀"),
        Binding("f8", "page(1)", "Page ▶"),
        Binding("f2", "status", "Status"),
    ]
    AUTO_FOCUS = "#batches"

    def __init__(self) -> None:
        super().__init__()
        self.first = 0
        """Index of the first batch on the page shown."""
        self.total = 0
        """How many batches there are (with the filter: at least how many)."""
        self.status: str | None = None
        """Only batches of this status (None: all)."""
        self.starts: list[str | None] = [None]
        """The batch each page shown so far starts after (None: the first page), by page."""
        self.last_code: str | None = None
        """The last batch of the page shown (the next page starts after it)."""

    def compose_body(self) -> ComposeResult:
        """Page line and table."""
        yield Plain("Loading…", id="page-line", classes="hint")
        yield DataTable(id="batches", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        """Columns, then the first page."""
        fit_columns(
            self.query_one("#batches", DataTable),
            [
                ("Batch", 10),
                ("Status", 10),
                ("Started", 10),
                ("Bank → recipient", 19),
                ("SOP", None),
            ],
            self.app.size.width,
        )
        self.load(self.first, None, self.status)

    @work(thread=True, exclusive=True, exit_on_error=False, name="page")
    def load(self, first: int, after: str | None, status: str | None) -> tuple[int, int, list]:
        """The page after batch ``after`` (the first page: None) and the count (in a thread).

        ``first`` is the index of the page's first batch: the screen's position changes only
        when the page arrives, so keys pressed meanwhile page from the page still shown.
        """
        from cellbatch.services.queries.batches import count_batches, list_batches

        db = self.cb_app.database()
        rows = list_batches(db, after=after, limit=PAGE + 1, status=status)
        if status is None:
            return first, count_batches(db), rows[:PAGE]
        # no count by status in the services: say whether another page follows
        return first, first + len(rows), rows[:PAGE]

    def done_page(self, page: tuple[int, int, list]) -> None:
        """Show the page."""
        self.first, self.total, rows = page
        self.last_code = rows[-1].code if rows else None
        table = self.query_one("#batches", DataTable)
        table.clear()
        for b in rows:
            chain = f"{b.parent} → {b.recipient}" if b.kind == "dose" else "(a bank)"
            table.add_row(
                b.code,
                b.status.upper(),
                iso_short(b.started_at)[:10],
                chain,
                b.sop,
                key=b.code,
                height=None,
            )
        last = min(self.first + PAGE, self.total)
        shown = "all statuses" if self.status is None else f"status {self.status.upper()}"
        of = f"of {self.total}" if self.status is None else ("of more" if self.total > last else "")
        self.query_one("#page-line", Static).update(
            f"Batches {self.first + 1 if rows else 0}–{self.first + len(rows)} {of} · {shown} "
            "(F2 status, F7/F8 page, Enter opens)"
        )

    def action_page(self, delta: int) -> None:
        """Previous or next page: after the last batch shown, or as that page was read."""
        first = self.first + delta * PAGE
        page = first // PAGE
        if first < 0 or first >= max(self.total, 1) or (delta > 0 and self.last_code is None):
            self.notify("No more batches that way")
            return
        if page > len(self.starts):  # a filter changed and its first page is not shown yet
            return
        if page == len(self.starts):
            self.starts.append(self.last_code)
        self.load(first, self.starts[page], self.status)

    def action_status(self) -> None:
        """Show only the next status (in process, quarantine, released, rejected, all)."""
        self.status = STATUSES[(STATUSES.index(self.status) + 1) % len(STATUSES)]
        self.starts = [None]
        self.load(0, None, self.status)

    def action_back(self) -> None:
        """Back."""
        self.app.pop_screen()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Open the batch."""
        self.cb_app.open_batch(str(event.row_key.value))
