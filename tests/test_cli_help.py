"""The help reads as one design (issue 18, point 7).

Flags show no value; every value an option or argument takes is one placeholder of the
vocabulary (cellbatch/cli/help_style.py) or the words it accepts; ``lot receive --collected``
gives its format; ``correct --field`` lists what the service accepts; labels are printed with
``label print`` beside the other label commands and the cryovial steps are the ``vial`` group
beside ``passage`` and ``bag`` (the old top-level names still run, unlisted).
"""

from __future__ import annotations

import re

import pytest

from tests.test_cli_hints import command_tree
from tests.test_cli_values import leaf_commands
from tests.test_free_text import bank_at_freeze


def help_records():
    """(command, option's help line as shown, is a flag) for every listed command's options."""
    tree = command_tree()
    for words, command in leaf_commands(tree):
        if command.hidden:
            continue
        ctx = command.make_context(" ".join(words), ["--help"], resilient_parsing=True)
        for param in command.params:
            record = param.get_help_record(ctx)
            if record is not None:
                yield " ".join(words), param, record[0]


def test_flags_show_no_value_and_every_value_is_a_placeholder_of_the_vocabulary():
    from cellbatch.cli.help_style import known_placeholder

    wrong = []
    for command, param, shown in help_records():
        names = [n.strip() for n in shown.split(",")]
        if getattr(param, "is_flag", False):
            if any(" " in n for n in names):
                wrong.append((command, shown))
        elif param.param_type_name == "option":
            placeholder = shown.rsplit(" ", 1)[-1]
            if not known_placeholder(placeholder):
                wrong.append((command, shown))
    assert wrong == []


def test_arguments_are_placeholders_of_the_vocabulary():
    from cellbatch.cli.help_style import known_placeholder

    arguments = {
        (" ".join(words), param.metavar)
        for words, command in leaf_commands(command_tree())
        for param in command.params
        if param.param_type_name == "argument"
    }
    assert {a for a in arguments if not known_placeholder(a[1])} == set()


def test_lot_receive_collected_gives_its_format(cli):
    shown = " ".join(cli("lot", "receive", "--help").out.split())
    assert "--collected DATETIME When the tissue was collected: YYYY-MM-DD HH:MM" in shown


def test_correct_field_lists_every_field_the_service_accepts(demo_db):
    from cellbatch.cli.batch_cmd import CORRECTABLE_FIELDS
    from cellbatch.domain.errors import InvalidInput
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands import steps
    from cellbatch.services.commands.corrections import correct
    from cellbatch.services.queries.batch_view import batch_view
    from cellbatch.services.queries.batches import list_batches

    kinds = ("seed", "harvest", "freeze", "thaw", "fucosylation", "fill")
    listed = {
        kind: {f.strip() for f in fields.split(",")}
        for command, fields in re.findall(r"([a-z ]+): ([a-z_, ]+)\.", CORRECTABLE_FIELDS)
        for kind in kinds
        if kind in command.split()
    }
    assert set(listed) == set(kinds), listed
    tech = authenticate(demo_db, "tech1", "demo-tech1-pass")
    bank_at_freeze(demo_db, "BMMSC-FIELDS")  # an unlocked bank's seeds and harvests, its freeze:
    freeze = dict(vials=4, cells_per_vial="25e6 cells", volume_per_vial="1.0 mL")
    steps.freeze(
        demo_db, tech, "BMMSC-FIELDS", cryoprotectant="CS10-5561", location="LN2", **freeze
    )
    seen = set()
    for row in list_batches(demo_db):
        for step in batch_view(demo_db, row.code).to_dict()["steps"]:
            if row.status != "in-process":
                continue  # locked: refused before the field is looked at
            with pytest.raises(InvalidInput) as refused:
                correct(demo_db, tech, row.code, step["id"], field="nothing", value="1", reason="r")
            accepted = re.search(r"expected one of (.*) for this", str(refused.value)).group(1)
            assert set(accepted.split(", ")) - {"at"} <= listed[step["kind"]], step
            seen.add(step["kind"])
    assert seen == {"seed", "harvest", "freeze", "thaw", "fucosylation", "fill"}
    assert (
        "Any step: at" in CORRECTABLE_FIELDS and "A QC result (Q<n>): value" in CORRECTABLE_FIELDS
    )


def test_label_print_and_the_vial_steps_are_in_their_groups_the_old_names_unlisted(cli):
    listed = cli("--help").out
    commands = set(re.findall(r"^  ([a-z-]+)\s", listed.split("Commands:")[1], re.M))
    assert {"label", "vial", "passage", "bag"} <= commands
    assert not {"labels", "freeze", "thaw"} & commands
    assert "print" in cli("label", "--help").out
    vial = cli("vial", "--help").out
    assert re.search(r"^  freeze\s", vial, re.M) and re.search(r"^  thaw\s", vial, re.M)
    tree = command_tree()
    for old, new in (("labels", ("label", "print")), ("freeze", ("vial", "freeze"))):
        renamed = tree.commands[new[0]].commands[new[1]]
        assert tree.commands[old].hidden and tree.commands[old].help == renamed.help
