"""Recipients: the pseudonymous list for everyone; register, weigh and identify for the clinic.

Who a recipient is (name, date of birth, hospital number) is shown only on request (F6), only
to the clinic and QA, in a panel of this screen, and each showing is an audit entry; it is
never part of any list, batch or label screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable

from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain


def plan_text(view: Any) -> str:
    """A plan as lines: the dose, then each infusion with its make-by times and state.

    A given infusion names its infusion record and when it ran (``given EASC-D000, IR1
    10:30-11:00``).
    """
    lines = [f"{view.recipient}: {view.sop}, {view.dose_per_kg}, day 1 {view.day_one}"]
    for i in view.infusions:
        line = (
            f"#{i.number} day {i.day:>2} {i.planned_at[:16].replace('T', ' ')} ({i.window}) "
            f"thaw from {i.thaw_from[5:16].replace('T', ' ')} fill by "
            f"{i.fill_by[5:16].replace('T', ' ')}: {i.state}" + (f" {i.batch}" if i.batch else "")
        )
        if i.infusion_record:
            line += f", {i.infusion_record}"
            if i.infused_from and i.infused_to:
                line += f" {i.infused_from[11:16]}-{i.infused_to[11:16]}"
        lines.append(line)
    return "\n".join(lines)


class RecipientsScreen(AppScreen):
    """Every registered recipient; the clinic registers, weighs and records identities."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f4", "register", "Register"),
        Binding("f5", "weigh", "Weight"),
        Binding("f6", "identity", "Identity"),
        Binding("f7", "set_identity", "Set identity", show=False),
        Binding("f8", "plan", "Plan"),
        Binding("f9", "new_plan", "New plan", show=False),
    ]
    AUTO_FOCUS = "#recipients"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Registering and weighing for the clinic; identity for the clinic and QA."""
        actor = self.cb_app.actor
        role = actor.role.value if actor else ""
        if action in ("register", "weigh", "set_identity", "new_plan"):
            return role == "clinic"
        if action == "identity":
            return role in ("clinic", "qa")
        return True

    def compose_body(self) -> ComposeResult:
        """Title, the list, and the identity panel (empty until asked for)."""
        with VerticalScroll():
            yield Plain("Recipients (pseudonymous)", classes="title")
            yield DataTable(id="recipients", cursor_type="row", zebra_stripes=True)
            yield Plain("", id="recipient-detail")
            yield Plain("", id="identity", classes="hint")

    def on_mount(self) -> None:
        """Columns, then load."""
        super().on_mount()
        self.query_one("#recipients", DataTable).add_columns(
            "Recipient", "Trial", "Cohort", "Weight", "Weighed", "Donor"
        )
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, name="recipients")
    def load(self) -> list[Any]:
        """Read the list (in a thread)."""
        from cellbatch.services.queries.recipients import recipient_list

        return recipient_list(self.cb_app.database())

    def done_recipients(self, views: list[Any]) -> None:
        """Fill the table."""
        table = self.query_one("#recipients", DataTable)
        table.clear()
        for v in views:
            weight = f"{v.weight_kg:g} kg" if v.weight_kg else "-"
            table.add_row(
                v.code, v.trial, str(v.cohort), weight, v.weighed_on or "-", v.donor or "-",
                key=v.code,
            )  # fmt: skip
        if not views:
            self.query_one("#recipient-detail", Plain).update("No recipient registered yet.")

    def selected(self) -> str | None:
        """The recipient under the cursor."""
        table = self.query_one("#recipients", DataTable)
        if table.row_count == 0:
            return None
        return str(table.get_row_at(table.cursor_row)[0])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """A new row: the identity and plan shown for the last one go away."""
        self.query_one("#identity", Plain).update("")
        self.query_one("#recipient-detail", Plain).update("")

    def action_plan(self) -> None:
        """Show the selected recipient's treatment plan."""
        code = self.selected()
        if code is not None:
            self.show_plan(code)

    @work(thread=True, exclusive=True, exit_on_error=False, name="plan")
    def show_plan(self, code: str) -> Any:
        """Read the plan (in a thread)."""
        from cellbatch.services.queries.plans import plan_view

        return plan_view(self.cb_app.database(), code)

    def done_plan(self, view: Any) -> None:
        """Days, dates, make-by times and state, one line per infusion."""
        self.query_one("#recipient-detail", Plain).update(plan_text(view))

    def action_new_plan(self) -> None:
        """Plan the selected recipient's infusions (the clinic)."""
        from cellbatch.tui.dialogs.form import FormDialog

        code = self.selected()
        if code is None:
            return
        fields = [
            ("sop", "Dose SOP (e.g. SOP-EASC-DOSE)"),
            ("first", "Day 1 infusion (YYYY-MM-DD HH:MM, local time)"),
            ("window", "Window for later infusions (± days)"),
        ]
        self.app.push_screen(
            FormDialog(f"Treatment plan of {code}", fields),
            lambda values: values and self.new_plan(code, values),
        )

    @work(thread=True, exclusive=True, exit_on_error=False, name="new-plan")
    def new_plan(self, code: str, values: dict[str, str]) -> Any:
        """Make the plan through the service (in a thread)."""
        from cellbatch.domain.errors import InvalidInput
        from cellbatch.domain.timeparse import parse_datetime
        from cellbatch.services.commands.plans import create_plan
        from cellbatch.services.queries.plans import plan_view

        if not values["window"].isdigit():
            raise InvalidInput(
                "window", f"expected a whole number of days, got {values['window']!r}"
            )
        db = self.cb_app.database()
        create_plan(
            db, self.cb_app.actor, code, sop_id=values["sop"],
            first_infusion=parse_datetime(values["first"], field="day 1 infusion"),
            window_days=int(values["window"]),
        )  # fmt: skip
        return plan_view(db, code)

    def done_new_plan(self, view: Any) -> None:
        """Show the new plan."""
        self.notify(f"✓ treatment plan of {view.recipient} made")
        self.done_plan(view)

    def action_register(self) -> None:
        """Register a recipient (the clinic)."""
        from cellbatch.tui.dialogs.form import FormDialog

        fields = [
            ("code", "Recipient ID (pseudonymous, e.g. EB-P002)"),
            ("trial", "Trial code (e.g. EASC-RA)"),
            ("cohort", "Cohort number"),
            ("weight", "Body weight (e.g. 70 kg)"),
            ("weighed_on", "Weighed on (YYYY-MM-DD)"),
            ("donor", "Related donor code, or - for none"),
        ]
        self.app.push_screen(
            FormDialog("Register a recipient", fields),
            lambda values: values and self.register(values),
        )

    @work(thread=True, exclusive=True, exit_on_error=False, name="register")
    def register(self, values: dict[str, str]) -> str:
        """Register through the service (in a thread)."""
        from cellbatch.domain.errors import InvalidInput
        from cellbatch.domain.timeparse import parse_date
        from cellbatch.services.commands.recipients import register_recipient

        if not values["cohort"].isdigit():
            raise InvalidInput("cohort", f"expected a whole number, got {values['cohort']!r}")
        return register_recipient(
            self.cb_app.database(),
            self.cb_app.actor,
            values["code"],
            trial=values["trial"],
            cohort=int(values["cohort"]),
            weight=values["weight"],
            weighed_on=parse_date(values["weighed_on"], field="weighed on"),
            donor=None if values["donor"] == "-" else values["donor"],
        )

    def done_register(self, code: str) -> None:
        """Say so and reload."""
        self.notify(f"✓ recipient {code} registered")
        self.load()

    def action_weigh(self) -> None:
        """Record a new body weight of the selected recipient."""
        from cellbatch.tui.dialogs.form import FormDialog

        code = self.selected()
        if code is None:
            return
        fields = [("weight", "Body weight (e.g. 70 kg)"), ("weighed_on", "Weighed on (YYYY-MM-DD)")]
        self.app.push_screen(
            FormDialog(f"New body weight of {code}", fields),
            lambda values: values and self.weigh(code, values),
        )

    @work(thread=True, exclusive=True, exit_on_error=False, name="weigh")
    def weigh(self, code: str, values: dict[str, str]) -> str:
        """Record the weight through the service (in a thread)."""
        from cellbatch.domain.timeparse import parse_date
        from cellbatch.services.commands.recipients import record_weight

        kg = record_weight(
            self.cb_app.database(),
            self.cb_app.actor,
            code,
            weight=values["weight"],
            weighed_on=parse_date(values["weighed_on"], field="weighed on"),
        )
        return f"{code}: {kg:g} kg"

    def done_weigh(self, text: str) -> None:
        """Say so and reload."""
        self.notify(f"✓ {text}")
        self.load()

    def action_identity(self) -> None:
        """Show who the selected recipient is (recorded in the audit trail)."""
        code = self.selected()
        if code is not None:
            self.show_identity(code)

    @work(thread=True, exclusive=True, exit_on_error=False, name="identity")
    def show_identity(self, code: str) -> Any:
        """Read the identity through the service, which records the reading (in a thread)."""
        from cellbatch.services.commands.recipients import show_identity

        return show_identity(self.cb_app.database(), self.cb_app.actor, code)

    def done_identity(self, view: Any) -> None:
        """Show it in the panel until another row is chosen."""
        self.query_one("#identity", Plain).update(
            f"{view.recipient}: {view.name} · born {view.born} · hospital number "
            f"{view.hospital_number}   (this showing is recorded in the audit trail)"
        )

    def action_set_identity(self) -> None:
        """Record who the selected recipient is (the clinic)."""
        from cellbatch.tui.dialogs.form import FormDialog

        code = self.selected()
        if code is None:
            return
        fields = [
            ("name", "Full name"),
            ("born", "Date of birth (YYYY-MM-DD)"),
            ("hospital_number", "Hospital number"),
        ]
        self.app.push_screen(
            FormDialog(f"Who {code} is (clinic only)", fields),
            lambda values: values and self.set_identity(code, values),
        )

    @work(thread=True, exclusive=True, exit_on_error=False, name="set-identity")
    def set_identity(self, code: str, values: dict[str, str]) -> str:
        """Record the identity through the service (in a thread)."""
        from cellbatch.domain.timeparse import parse_date
        from cellbatch.services.commands.recipients import set_identity

        set_identity(
            self.cb_app.database(),
            self.cb_app.actor,
            code,
            name=values["name"],
            born=parse_date(values["born"], field="date of birth"),
            hospital_number=values["hospital_number"],
        )
        return code

    def done_set_identity(self, code: str) -> None:
        """Say so and reload."""
        self.notify(f"✓ identity of {code} recorded")
        self.load()

    def action_back(self) -> None:
        """Back home."""
        self.dismiss(None)

    def palette_commands(self) -> Iterable[SystemCommand]:
        """The recipients screen's actions."""
        role = self.cb_app.actor.role.value if self.cb_app.actor else ""
        if role == "clinic":
            yield SystemCommand("Register a recipient", "Pseudonymous ID", self.action_register)
            yield SystemCommand("Record a body weight", "Selected recipient", self.action_weigh)
            yield SystemCommand(
                "Record who the recipient is", "Clinic only", self.action_set_identity
            )
        if role == "clinic":
            yield SystemCommand("Plan the treatment", "Selected recipient", self.action_new_plan)
        if role in ("clinic", "qa"):
            yield SystemCommand("Show who the recipient is", "Audited", self.action_identity)
        yield SystemCommand("Show the treatment plan", "Selected recipient", self.action_plan)
