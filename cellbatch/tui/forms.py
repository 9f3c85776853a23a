"""Entry forms built from an SOP step: which fields, how each is checked as typed, previews.

The SOP gives the parameters (label, unit, range, critical); the step kind
(:mod:`cellbatch.domain.steps`) says which argument of the step service each one feeds, what
a value outside its range does, and computes and checks the previews, so the technician
sees at once what the service would refuse. The service checks everything again on save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellbatch.domain.sop import Parameter, Sop
    from cellbatch.services.queries.batch_view_model import BatchView, VialView

LOT_ARGS: dict[str, dict[str, str]] = {
    "freeze": {"cryoprotectant": "cryoprotectant"},
    "fucosylation": {"fucosyltransferase": "enzyme_lot", "gdp-fucose": "gdp_fucose_lot"},
}
"""Material kinds with an argument of their own; every other lot goes to ``materials``."""


@dataclass
class FieldSpec:
    """One field of an entry form."""

    name: str
    label: str
    kind: str
    """``quantity``, ``count``, ``lot``, ``text``, ``choice`` or ``datetime``."""
    arg: str
    required: bool = True
    param: Parameter | None = None
    hint: str = ""
    choices: tuple[str, ...] = ()
    material_kind: str | None = None
    critical: bool = False
    out_of_range: str = "refuse"
    """What the step does with a value outside the SOP range: refuse, flag or deviation."""

    @property
    def placeholder(self) -> str:
        """Dim text in the empty field: where to type, and in what form."""
        if self.kind == "quantity" and self.param is not None:
            return f"e.g. {_example(self.param)}"
        return {
            "count": "a whole number",
            "lot": "scan the lot",
            "datetime": "YYYY-MM-DD HH:MM",
            "text": "type or scan",
        }.get(self.kind, "")


def _example(param: Parameter) -> str:
    """A value inside the SOP's range (its middle, or the one bound it has), as typed."""
    from cellbatch import units

    low, high = param.min_canonical, param.max_canonical
    if low is not None and high is not None:
        return units.fmt((low + high) / 2, param.measure, digits=2)
    example = param.measure.example
    if example and param.in_range(units.parse(example, param.measure, field="example")):
        return example
    bound = low if low is not None else high
    return units.fmt(bound, param.measure, digits=2) if bound is not None else example


@dataclass
class Check:
    """The outcome of checking one field's text."""

    state: str
    """``empty``, ``ok``, ``warn`` or ``error``."""
    message: str
    value: Any = None


@dataclass
class FormSpec:
    """The fields of one step's form, and what the form needs to compute previews."""

    kind: str
    title: str
    instructions: str
    fields: list[FieldSpec] = field(default_factory=list)


def build_form(sop: Sop, kind: str) -> FormSpec:
    """The form of the SOP's ``kind`` step: its input parameters, lots and times."""
    step = sop.step(kind)
    spec = FormSpec(kind, step.title, " ".join(step.instructions.split()))
    if kind == "seed" and sop.expansion is not None:
        spec.fields.append(
            FieldSpec(
                "vessel",
                "Vessel type",
                "choice",
                "vessel",
                choices=tuple(sop.expansion.vessels),
                hint="allowed by the SOP: " + ", ".join(sop.expansion.vessels),
            )
        )
    from cellbatch.domain.steps import kind_of

    args = {f.name: f.arg for f in kind_of(kind).fields}
    for p in step.inputs:
        if p.name not in args:  # only in a retired version, read as history: never recorded
            continue
        is_count = p.measure.integer or p.measure.key == "count"
        unit = p.measure.display or p.unit
        spec.fields.append(
            FieldSpec(
                p.name,
                p.label,
                "count" if is_count else "quantity",
                args[p.name],
                param=p,
                critical=p.critical,
                out_of_range=_out_of_range(kind, p),
                hint=f"{unit} · {p.range_text()}" if unit else p.range_text(),
            )
        )
    for material in step.materials:
        arg = LOT_ARGS.get(kind, {}).get(material, "materials")
        spec.fields.append(
            FieldSpec(
                f"lot_{material}",
                f"Lot: {material}",
                "lot",
                arg,
                material_kind=material,
                critical=True,
                hint="scan or type the lot number",
            )
        )
    if kind == "freeze":
        spec.fields.append(
            FieldSpec("location", "Storage location", "text", "location", hint="tank / rack / box")
        )
        spec.fields.append(
            FieldSpec(
                "first_position",
                "First box position",
                "count",
                "first_position",
                required=False,
                hint="default 1",
            )
        )
    if kind == "thaw":
        spec.fields.append(
            FieldSpec(
                "vial_numbers",
                "Vial numbers",
                "text",
                "vial_numbers",
                required=False,
                hint="scan each vial, Enter: they add up below · none: lowest in stock",
            )
        )
    if kind == "fucosylation":
        for name, label in (("start", "Incubation start"), ("end", "Incubation end")):
            spec.fields.append(
                FieldSpec(name, label, "datetime", name, hint="YYYY-MM-DD HH:MM (local)")
            )
    else:
        spec.fields.append(
            FieldSpec(
                "at",
                "Done at",
                "datetime",
                "at",
                required=False,
                hint="blank: now · YYYY-MM-DD HH:MM",
            )
        )
    return spec


def _out_of_range(kind: str, param: Parameter) -> str:
    """What the step kind does with this parameter outside its range (the SOP may say)."""
    from cellbatch.domain.steps import kind_of

    f = kind_of(kind).field(param.name)
    return f.out_of_range(param) if f is not None else "refuse"


def check_field(
    spec: FieldSpec,
    text: str,
    lots: dict[str, dict[str, Any]] | None,
    today: str,
    vials: dict[int, VialView] | None = None,
) -> Check:
    """Check one field's text as typed: unit, number, range, lot kind and expiry, vials."""
    from cellbatch import units
    from cellbatch.domain.errors import InvalidInput

    raw = text.strip()
    if not raw:
        return Check("error" if spec.required else "empty", "required" if spec.required else "")
    try:
        if spec.kind == "quantity" and spec.param is not None:
            value = units.parse(raw, spec.param.measure, field=spec.label)
            shown = units.fmt(value, spec.param.measure)
            if not spec.param.in_range(value):
                message = f"{shown} is outside the SOP range {spec.param.range_text()}"
                if spec.out_of_range == "flag":
                    return Check("warn", f"⚠ {message}: recorded and flagged for QA", value)
                if spec.out_of_range == "deviation":
                    return Check("warn", f"⚠ {message}: recorded with a deviation", value)
                return Check("error", f"✗ {message}")
            return Check("ok", f"✓ {shown}", value)
        if spec.kind == "count":
            if not raw.isdigit():
                return Check("error", f"✗ expected a whole number, got {raw[:20]!r}")
            value = int(raw)
            if spec.param is not None and not spec.param.in_range(value):
                return Check(
                    "error", f"✗ {value} is outside the SOP range {spec.param.range_text()}"
                )
            if value < 1:
                return Check("error", "✗ expected 1 or more")
            return Check("ok", f"✓ {value}", value)
        if spec.kind == "datetime":
            from cellbatch.domain.timeparse import parse_datetime

            value = parse_datetime(raw, field=spec.label)
            return Check("ok", f"✓ {value:%Y-%m-%d %H:%M} UTC", value)
        if spec.kind == "lot":
            return _check_lot(spec, raw, lots, today)
        if spec.kind == "text" and spec.name == "vial_numbers":
            given, numbers = _vials_given(raw)
            if len(set(numbers)) != len(numbers):
                return Check("error", "✗ a vial is scanned twice")
            if vials is not None:
                for n in numbers:
                    vial = vials.get(n)
                    if vial is None:
                        return Check("error", f"✗ the bank has no vial {n}")
                    if vial.status != "in stock":
                        return Check(
                            "error",
                            f"✗ vial {n} is not in stock (thawed for "
                            f"{vial.thawed_for or 'another batch'})",
                        )
                where = "; ".join(vials[n].location for n in numbers[:2])
                return Check("ok", f"✓ vials {', '.join(map(str, numbers))} · {where}", given)
            return Check("ok", "✓ vials " + ", ".join(map(str, numbers)), given)
        return Check("ok", "✓", raw)
    except InvalidInput as error:
        return Check("error", f"✗ {error.message}")
    except ValueError:
        return Check("error", f"✗ expected numbers separated by commas, got {raw[:20]!r}")


def _vials_given(raw: str) -> tuple[list[int | str], list[int]]:
    """The vials typed or scanned (numbers, or labels read) and their numbers.

    Numbers and scanned labels are separated by spaces or commas (a Data Matrix's own ``=,``
    excepted); a label typed from its text holds spaces, so it stands alone between
    semicolons. The thaw checks each label against the bank.
    """
    import re

    from cellbatch.services.queries.vial_label_content import parse_vial_scan

    given: list[int | str] = []
    numbers: list[int] = []
    for piece in raw.split(";"):
        typed = " " in piece.strip() and not re.search(r"[=,]", piece)
        typed = typed and not all(part.isdigit() for part in piece.split())
        for token in [piece.strip()] if typed else re.split(r"(?<!=),|\s+", piece):
            if not token:
                continue
            if token.isascii() and token.isdigit():
                given.append(int(token))
                numbers.append(int(token))
            else:
                given.append(token)
                numbers.append(parse_vial_scan(token, "Vial numbers").number)
    return given, numbers


def _check_lot(
    spec: FieldSpec, raw: str, lots: dict[str, dict[str, Any]] | None, today: str
) -> Check:
    if lots is None:
        return Check("ok", "✓ (lot list still loading)", raw)
    lot = lots.get(raw)
    if lot is None:
        return Check("error", f"✗ no material lot {raw!r}")
    if lot["kind"] != spec.material_kind:
        return Check("error", f"✗ {raw} is {lot['kind']}, not {spec.material_kind}")
    if lot["expires"] < today:
        return Check("error", f"✗ {raw} EXPIRED on {lot['expires']}")
    return Check("ok", f"✓ {lot['name']} · expires {lot['expires']}", raw)


def service_arguments(spec: FormSpec, values: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the step service, from the checked field values."""
    kwargs: dict[str, Any] = {}
    materials: list[str] = []
    for f in spec.fields:
        value = values.get(f.name)
        if value is None or value == "":
            continue
        if f.kind == "lot" and f.arg == "materials":
            materials.append(value)
        elif f.kind == "quantity":
            kwargs[f.arg] = values[f"{f.name}__text"]
        else:
            kwargs[f.arg] = value
    if any(f.arg == "materials" for f in spec.fields):
        kwargs["materials"] = materials
    return kwargs


def error_field(spec: FormSpec, service_field: str) -> str | None:
    """The form field a service's refusal names (``--cells`` → ``viable_cells``), if any.

    The step kind says which option types each value; lots and times keep their own names.
    """
    from cellbatch.domain.steps import kind_of

    options = {f.name: f.option for f in kind_of(spec.kind).fields}
    for f in spec.fields:
        flag = options.get(f.name, "--" + f.arg.replace("_", "-"))
        if service_field in (flag, f.arg, f.label):
            return f.name
    return None


def previews(
    sop: Sop,
    kind: str,
    view: BatchView,
    values: dict[str, Any],
    now: datetime,
    stock: tuple[int, ...] | None = None,
    fill_by: list[Any] | None = None,
) -> tuple[list[str], list[str]]:
    """Computed values for the typed entries, and the refusals they already show.

    The step kind computes and checks (:mod:`cellbatch.domain.steps`), in the batch's
    context read from the view, as the service will when the entry is saved. Returns
    (lines to show, problems that make saving impossible).
    """
    from cellbatch.domain.steps import kind_of
    from cellbatch.tui.queries import step_context_of

    step_kind = kind_of(kind)
    at = values.get("end") or values.get("at") or now
    context = step_context_of(view, sop, kind, at, stock)
    typed = {
        f.name: values[f.name]
        for f in step_kind.fields
        if values.get(f.name) is not None and values.get(f.name) != ""
    }
    if any(not isinstance(n, int) for n in typed.get("vial_numbers", [])):
        del typed["vial_numbers"]  # labels read: the service finds their vials on save
    outcome = step_kind.check(typed, context)
    lines = step_kind.preview(typed, context) + batch_lines(kind, view, values, now, fill_by)
    expires = outcome.expires_at
    if expires is not None and sop.dose and sop.dose.expiry_from == "fucosylation_end":
        left = _left((expires - now).total_seconds())
        if kind == "fucosylation":
            lines.append(f"Infuse by {expires:%Y-%m-%d %H:%M} UTC ({left} left)")
        else:
            lines.append(f"Expiry {expires:%Y-%m-%d %H:%M} UTC: {left}")
    return lines, [r.message for r in outcome.refusals]


def _left(seconds: float) -> str:
    from cellbatch.tui.clock import countdown

    return countdown(seconds)


def vials_in_stock(vials: dict[int, VialView] | None, *, exclude: list[str], limit: int = 8) -> str:
    """The bank's vials still in stock with their positions, for the thaw form."""
    if vials is None:
        return "loading…"
    taken = {v for v in exclude if v.isdigit()}
    free = [v for n, v in sorted(vials.items()) if v.status == "in stock" and str(n) not in taken]
    if not free:
        return "none"
    # the box and position find a vial; the tank and rack are the same for the whole bank
    shown = "; ".join(
        f"{v.number} ({' / '.join(v.location.split(' / ')[-2:])})" for v in free[:limit]
    )
    more = f"; … {len(free) - limit} more" if len(free) > limit else ""
    return f"{len(free)} vials: {shown}{more}"


def batch_example(spec: FieldSpec, view: BatchView) -> str | None:
    """An example from the batch's own record, where the SOP's range would mislead.

    The fill's viable cells are the dose for this recipient (weight × dose per kg), not the
    middle of the SOP's range for every recipient: the example is the batch's own target.
    """
    if spec.name == "viable_cells" and view.dose is not None:
        return f"e.g. {view.dose.target_viable_cells.display}"
    return None


def batch_lines(
    kind: str,
    view: BatchView,
    values: dict[str, Any],
    now: datetime,
    fill_by: list[Any] | None = None,
) -> list[str]:
    """What the form shows of this batch beside the step's own preview (nothing decided).

    The fill shows the dose target and its window, the viable cells after thaw and the
    running fill-by times; the thaw warns when the viable cells cannot reach the dose's lower
    limit (the fill's dose window is the rule, checked at the fill).
    """
    from cellbatch import units
    from cellbatch.domain import growth

    lines: list[str] = []
    dose = view.dose
    if dose is None:
        return lines
    window = dose.target_window
    if kind == "fill":
        lines.append(
            f"Dose target: {dose.target_viable_cells.display} "
            f"({window.low.display} to {window.high.display})"
        )
        if dose.thaw is not None:
            lines.append(f"Viable cells after thaw: {dose.thaw.viable_cells.display}")
        for due in fill_by or []:
            left = _left((due.due - now).total_seconds())
            lines.append(f"{due.what.capitalize()}: {due.due:%Y-%m-%d %H:%M} UTC ({left})")
    elif kind == "thaw":
        total, via = values.get("total_cells"), values.get("viability")
        if total and via is not None:
            viable = growth.viable_cells(total, via)
            if viable < window.low.value:
                lines.append(
                    f"⚠ {units.fmt(viable, 'cells')} viable: fewer than the dose needs (at least "
                    f"{window.low.display}); the fill cannot reach the target"
                )
    return lines
    if kind == "fill":
        lines.append(
            f"Dose target: {view['target_viable_cells']['display']} "
            f"({window['low']['display']} to {window['high']['display']})"
        )
        thawed = (view.get("thaw") or {}).get("viable_cells")
        if thawed:
            lines.append(f"Viable cells after thaw: {thawed['display']}")
        for due in fill_by or []:
            left = _left((due.due - now).total_seconds())
            lines.append(f"{due.what.capitalize()}: {due.due:%Y-%m-%d %H:%M} UTC ({left})")
    elif kind == "thaw":
        total, via = values.get("total_cells"), values.get("viability")
        if total and via is not None:
            viable = growth.viable_cells(total, via)
            if viable < window["low"]["value"]:
                lines.append(
                    f"⚠ {units.fmt(viable, 'cells')} viable: fewer than the dose needs (at least "
                    f"{window['low']['display']}); the fill cannot reach the target"
                )
    return lines
