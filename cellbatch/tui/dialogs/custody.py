"""Issue, hand-over and receipt of a dose batch's bag: the fields ``cellbatch custody`` asks.

Nothing is decided here: the dialog hands the scans and the log-ins to
``services.commands.custody``, which refuses an unreleased, expired or held bag, a second
issue, a hand-over by anyone but the holder, a second receipt, a bad logger readings file.
The services name a refused value as the command line does (``--scan``, ``--to``); each
field lists those names so the refusal lands on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cellbatch.tui.dialogs import checks
from cellbatch.tui.dialogs.form import DialogField, FormDialog

if TYPE_CHECKING:
    from cellbatch.domain.users import Actor


def _hand_fields() -> list[DialogField]:
    """The label scans and the log-in of the person who takes the bag."""
    return [
        DialogField("din", "DIN (scan)", "scan the bag label's DIN", names=("--scan",)),
        DialogField("product", "Product (scan)", "scan the bag label's product code"),
        DialogField("to", "Taken by", "their user ID (they type their password)", names=("--to",)),
        DialogField("password", "Their password", secret=True),
    ]


def issue_dialog(code: str, db: Callable[[], Any], actor: Actor) -> FormDialog:
    """Issue the bag of ``code`` (released, in date, not on hold) to the person who takes it."""
    fields = [
        *_hand_fields(),
        DialogField(
            "container",
            "Container",
            "the transport container",
            checks.one_line("the transport container"),
        ),  # fmt: skip
        DialogField(
            "temperature",
            "Temperature",
            "reading at issue, within the storage range (optional)",
            checks.quantity("temperature"),
            required=False,
        ),  # fmt: skip
        DialogField(
            "logger",
            "Logger",
            "the temperature logger packed with it (optional)",
            checks.one_line("the logger's ID"),
            names=("--logger",),
            required=False,
        ),  # fmt: skip
    ]

    def save(values: dict[str, Any]) -> str:
        from cellbatch.services.commands.custody import issue_bag

        scans = [values["din"], values["product"]]
        return issue_bag(db(), actor, values["to"], values["password"], scans,
                         container=values["container"],
                         temperature=values["temperature"] or None,
                         logger=values["logger"] or None)  # fmt: skip

    return FormDialog(
        f"Issue the bag of {code}",
        fields,
        save=save,
        note="Scan the bag's label; the person who takes it logs in.",
    )


def hand_over_dialog(code: str, db: Callable[[], Any], actor: Actor) -> FormDialog:
    """Hand the bag of ``code`` you hold to the next person."""

    def save(values: dict[str, Any]) -> str:
        from cellbatch.services.commands.custody import hand_over

        scans = [values["din"], values["product"]]
        return hand_over(db(), actor, values["to"], values["password"], scans)

    return FormDialog(
        f"Hand over the bag of {code}",
        _hand_fields(),
        save=save,
        note="Only the bag's holder hands it on; the next person logs in.",
    )


def receive_dialog(code: str, db: Callable[[], Any], actor: Actor) -> FormDialog:
    """The ward receives the bag of ``code``: its condition and the temperature in transit.

    Answers the receipt's sentence (an excursion says it put the bag on hold).
    """
    fields = [
        DialogField("din", "DIN (scan)", "scan the bag label's DIN", names=("--scan",)),
        DialogField("product", "Product (scan)", "scan the bag label's product code"),
        DialogField(
            "condition",
            "Condition",
            "the container on arrival, e.g. intact, sealed",
            checks.one_line("the container's condition"),
            names=("--condition",),
        ),  # fmt: skip
        DialogField(
            "logger_file",
            "Logger file",
            "its readings file (CSV), if a logger travelled",
            names=("--logger-file",),
            required=False,
        ),  # fmt: skip
        DialogField(
            "temperature",
            "Temperature",
            "on arrival, e.g. 20 °C (no logger)",
            checks.quantity("temperature"),
            names=("--temperature",),
            required=False,
        ),  # fmt: skip
    ]

    def save(values: dict[str, Any]) -> str:
        from pathlib import Path

        from cellbatch.services.commands.custody import receive_bag

        path = values["logger_file"].strip()
        receipt = receive_bag(db(), actor, [values["din"], values["product"]],
                              condition=values["condition"],
                              logger_file=Path(path).expanduser() if path else None,
                              temperature=values["temperature"] or None)  # fmt: skip
        return receipt.text()

    return FormDialog(
        f"Receive the bag of {code} on the ward",
        fields,
        save=save,
        note="Scan the bag's label on arrival; you (logged in) receive it.",
    )
