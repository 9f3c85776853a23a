"""Administration: user accounts (add, deactivate, unlock) and the SOPs with version and hash."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain


class AdminScreen(AppScreen):
    """Users and SOPs; accounts are deactivated, never deleted."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f2", "add_user", "Add user"),
        Binding("f3", "deactivate", "Deactivate"),
        Binding("f4", "unlock", "Unlock"),
        Binding("f6", "activate", "Activate", show=False),  # the users line names it
        Binding("f5", "reload", "Refresh"),
    ]
    AUTO_FOCUS = "#users"

    def compose_body(self) -> ComposeResult:
        """Users, then SOPs."""
        with VerticalScroll():
            yield Plain("", id="admin-note", classes="hint")
            yield Plain(
                "Users (F2 add · F3 deactivate · F4 unlock · F6 activate the highlighted)",
                classes="section",
            )
            yield DataTable(id="users", cursor_type="row", zebra_stripes=True)
            yield Plain("SOPs on disk", classes="section")
            yield DataTable(id="sops", cursor_type="row")

    def on_mount(self) -> None:
        """Columns, then load."""
        self.query_one("#users", DataTable).add_columns(
            "User ID", "Name", "Role", "Active", "Locked", "Password"
        )
        self.query_one("#sops", DataTable).add_columns(
            "SOP", "Version", "Status", "Kind", "Hash", "Approved in cellbatch"
        )
        self.reload()

    def reload(self) -> None:
        """Load users and SOPs."""
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, name="admin")
    def load(self) -> tuple[list[Any], list[dict[str, Any]], dict[tuple[str, str], Any]]:
        """Users, SOP summaries and the SOP approvals (in a thread)."""
        from cellbatch.services.queries.sops import approvals, available_sops, sop_summary
        from cellbatch.services.queries.users import list_users

        db = self.cb_app.database()
        return list_users(db), [sop_summary(s) for s in available_sops()], approvals(db)

    def done_admin(
        self, data: tuple[list[Any], list[dict[str, Any]], dict[tuple[str, str], Any]]
    ) -> None:
        """Fill the tables."""
        users, sops, approved = data
        table = self.query_one("#users", DataTable)
        kept = self._selected()  # the cursor stays on the user it was on
        table.clear()
        for u in users:
            table.add_row(
                u.username,
                u.full_name,
                u.role,
                "yes" if u.active else "NO (deactivated)",
                "LOCKED" if u.locked else "no",
                "one-time: must change" if u.must_change_password else "set",
                key=u.username,
            )
        names = [u.username for u in users]
        if kept in names:
            table.move_cursor(row=names.index(kept))
        table = self.query_one("#sops", DataTable)
        table.clear()
        for s in sops:
            found = approved.get((s["id"], s["version"]))
            if found is not None and found.content_hash == s["content_hash"]:
                signed = f"✓ {found.username} {found.signed_at[:10]}"
            else:
                signed = "✗ not approved (QA: cellbatch sop approve)"
            table.add_row(
                s["id"],
                s["version"],
                s["status"].upper(),
                s["kind"],
                s["content_hash"][:16],
                signed,
            )

    def _selected(self) -> str | None:
        table = self.query_one("#users", DataTable)
        if not table.row_count:
            return None
        return str(table.get_row_at(table.cursor_row)[0])

    def action_add_user(self) -> None:
        """Ask for user ID, name and role; the one-time password is shown once."""
        from cellbatch.domain.users import Role
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        roles = tuple(r.value for r in Role)
        dialog = FormDialog(
            "Add a user (a one-time password is generated)",
            [
                DialogField("username", "User ID", "e.g. tech3", names=("USERNAME",)),
                DialogField(
                    "full_name",
                    "Printed full name",
                    "as printed under a signature",
                    checks.one_line("the printed full name"),
                    ("FULL_NAME", "FULL-NAME", "--full-name", "--name"),
                ),
                DialogField(
                    "role",
                    "Role",
                    ", ".join(roles),
                    checks.one_of(roles),
                    ("ROLE", "--role"),
                    suggestions=roles,
                ),
            ],
            save=self._add_user,
        )
        self.app.push_screen(dialog, self._added)

    def _add_user(self, values: dict[str, str]) -> tuple[str, str]:
        """Create the account (in the dialog's worker)."""
        from cellbatch.services.commands.users import add_user

        view, password = add_user(
            self.cb_app.database(),
            self.cb_app.actor,
            values["username"],
            values["full_name"],
            values["role"],
        )
        return view.username, password

    def _added(self, created: tuple[str, str] | None) -> None:
        if created:
            self.done_add(created)

    def done_add(self, created: tuple[str, str]) -> None:
        """Show the one-time password once."""
        username, password = created
        self.query_one("#admin-note", Static).update(
            f"✓ {username} added. One-time password (shown once, changed at first log-in): "
            f"{password}"
        )
        self.reload()

    def _ask_reason(self, title: str, then) -> None:
        from cellbatch.tui.dialogs.form import FormDialog

        username = self._selected()
        if username is None:
            return
        self.app.push_screen(
            FormDialog(f"{title} {username}", [("reason", "Reason (mandatory)")]),
            lambda values: values and then(username, values["reason"]),
        )

    def action_deactivate(self) -> None:
        """Deactivate the highlighted user (with the reason)."""
        self._ask_reason("Deactivate", self.change)

    def action_unlock(self) -> None:
        """Unlock the highlighted user (with the reason)."""
        self._ask_reason("Unlock", lambda user, reason: self.change(user, reason, unlock=True))

    def action_activate(self) -> None:
        """Activate the highlighted (deactivated) user again (with the reason)."""
        self._ask_reason("Activate", lambda user, reason: self.change(user, reason, activate=True))

    @work(thread=True, exclusive=True, exit_on_error=False, name="change")
    def change(
        self, username: str, reason: str, unlock: bool = False, activate: bool = False
    ) -> str:
        """Deactivate, activate or unlock (in a thread)."""
        from cellbatch.services.commands import users

        db, actor = self.cb_app.database(), self.cb_app.actor
        if activate:
            users.set_active(db, actor, username, True, reason)
            return f"✓ {username} active again"
        if unlock:
            users.unlock(db, actor, username, reason)
            return f"✓ {username} unlocked"
        users.set_active(db, actor, username, False, reason)
        return f"✓ {username} deactivated (the account stays on record)"

    def done_change(self, message: str) -> None:
        """Say what changed."""
        self.query_one("#admin-note", Static).update(message)
        self.reload()

    def action_reload(self) -> None:
        """Load again."""
        self.reload()

    def action_back(self) -> None:
        """Back."""
        self.app.pop_screen()
