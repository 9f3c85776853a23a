"""Dose arithmetic: target viable cells, tolerance window, volume, dose actually given.

Example (docs/architecture.md, "Dose arithmetic"): 70 kg at 4 × 10⁶ cells/kg gives 2.8 × 10⁸
viable cells; ±10 % gives 2.52–3.08 × 10⁸; at 5 × 10⁶ cells/mL that is 56 mL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DoseTarget:
    """The viable cells a bag must hold, and the window it may fall in."""

    target_cells: float
    low_cells: float
    high_cells: float
    tolerance_percent: float

    def contains(self, cells: float) -> bool:
        """True when ``cells`` is within the tolerance window (inclusive)."""
        return self.low_cells <= cells <= self.high_cells

    def deviation_percent(self, cells: float) -> float:
        """How far ``cells`` is from the target, in percent of the target."""
        return (cells - self.target_cells) / self.target_cells * 100.0


def dose_target(dose_per_kg: float, body_weight_kg: float, tolerance_percent: float) -> DoseTarget:
    """Target viable cells = dose per kg × body weight, with a ± tolerance window."""
    target = dose_per_kg * body_weight_kg
    margin = target * tolerance_percent / 100.0
    return DoseTarget(target, target - margin, target + margin, tolerance_percent)


def volume_for(target_cells: float, concentration_per_ml: float) -> float:
    """ML of a suspension at ``concentration_per_ml`` that holds ``target_cells``."""
    return target_cells / concentration_per_ml


def concentration(cells: float, volume_ml: float) -> float:
    """Cells per mL."""
    return cells / volume_ml


def dose_per_kg(cells: float, body_weight_kg: float) -> float:
    """Cells per kg body weight actually given."""
    return cells / body_weight_kg
