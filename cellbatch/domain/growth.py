"""Culture arithmetic: area, seeding density, population doublings, doubling time.

All functions take canonical magnitudes (cells, cm², hours) as floats.
"""

from __future__ import annotations

import math


def seeding_density(viable_cells: float, area_cm2: float) -> float:
    """Viable cells seeded per cm² of growth area."""
    return viable_cells / area_cm2


def viable_cells(total_cells: float, viability_percent: float) -> float:
    """Viable cells = total cells × viability."""
    return total_cells * viability_percent / 100.0


def population_doublings(seeded: float, harvested: float) -> float:
    """PD = log2(viable cells harvested / viable cells seeded)."""
    return math.log2(harvested / seeded)


def doubling_time_hours(culture_hours: float, seeded: float, harvested: float) -> float | None:
    """Culture hours × ln 2 / ln(harvested / seeded); None when the cells did not grow."""
    if harvested <= seeded or culture_hours <= 0:
        return None
    return culture_hours * math.log(2) / math.log(harvested / seeded)
