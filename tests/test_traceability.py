"""Every GMP requirement is proved by at least one test, and every mark names a real one."""

from __future__ import annotations

import ast

from tests.conftest import REPO, gmp_requirements


def _marked_requirements() -> dict[str, set[str]]:
    """Requirement ID → test functions carrying it (directly or through a module-level alias)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                ids = _requirement_of(node.value)
                for target in node.targets:
                    if ids and isinstance(target, ast.Name):
                        aliases[target.id] = ids
        module_wide = _module_marks(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                for rid in module_wide:
                    found.setdefault(rid, set()).add(f"{path.name}::{node.name}")
                for deco in node.decorator_list:
                    rid = _requirement_of(deco) if isinstance(deco, ast.Call) else None
                    if rid is None and isinstance(deco, ast.Name):
                        rid = aliases.get(deco.id)
                    if rid:
                        found.setdefault(rid, set()).add(f"{path.name}::{node.name}")
    return found


def _module_marks(tree: ast.Module) -> list[str]:
    """Requirement IDs of a module-level ``pytestmark`` (one mark or a list of marks)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            value = node.value
            calls = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
            return [rid for c in calls if isinstance(c, ast.Call) and (rid := _requirement_of(c))]
    return []


def _requirement_of(call: ast.Call) -> str | None:
    """``GMP-NN`` of a ``pytest.mark.requirement("GMP-NN")`` call, else None."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "requirement" and call.args:
        arg = call.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return None


def test_every_gmp_requirement_is_proved_by_a_test_and_every_mark_is_known():
    known = gmp_requirements()
    # each wave adds the requirements it proves; the first wave's 24 stay
    assert {f"GMP-{n:02d}" for n in range(1, 25)} <= set(known)
    assert all(len(rid) == 6 and rid[4:].isdigit() for rid in known), sorted(known)
    marked = _marked_requirements()
    assert sorted(set(known) - set(marked)) == [], "requirements without a test"
    assert sorted(set(marked) - set(known)) == [], "marks naming no requirement"


def test_marks_given_through_a_module_alias_are_found():
    # test_labels.py marks its tests with GMP24 = pytest.mark.requirement("GMP-24")
    marked = _marked_requirements()
    assert (
        "test_labels.py::test_final_label_only_after_release_and_decodes_exactly"
        in marked["GMP-24"]
    )


def test_a_module_wide_pytestmark_marks_every_test_of_its_module():
    # test_nightly.py marks all its tests with pytestmark = pytest.mark.requirement("GMP-33")
    marked = _marked_requirements()
    nightly = {t for t in marked["GMP-33"] if t.startswith("test_nightly.py::")}
    assert nightly, marked["GMP-33"]
