"""Telling people apart by their printed names (segregation of duties is per person).

A signature shows a printed name. Two accounts whose names print alike ("José Díaz",
"Jose  Diaz", "JОSE DIAZ" with a Cyrillic О) are one person to a reader, so they are one
person to every rule: :func:`person_key` folds a name to what a reader sees.
"""

from __future__ import annotations

import re
import unicodedata

CONFUSABLES = str.maketrans(
    {
        # Cyrillic letters that print like Latin ones (upper and lower case)
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
        "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ԛ": "Q",
        "Ԝ": "W", "Ү": "Y", "Һ": "H", "Ӏ": "I",
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԛ": "q",
        "ԝ": "w", "ү": "y", "һ": "h", "ӏ": "l", "ԁ": "d", "ɡ": "g",
        # Greek letters that print like Latin ones
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x",
        # Latin letters with a stroke or without a dot, which do not decompose
        "ı": "i", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ħ": "h",
        "Ħ": "H", "ŧ": "t", "Ŧ": "T",
    }
)  # fmt: skip
"""Letters that print like a Latin letter, mapped to it (a small table of Unicode's confusables)."""

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―.,'’`´]+")


def person_key(name: str) -> str:
    """A printed name folded to what a reader sees: equal keys, one person.

    NFKC (full-width and ligature forms), accents stripped, look-alike Cyrillic and Greek
    letters to Latin, case folded, invisible characters dropped, every run of blanks,
    hyphens, dots and apostrophes made one space.
    """
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name))
    text = "".join(
        ch for ch in text if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf"
    )
    text = text.translate(CONFUSABLES).casefold()
    return " ".join(_SEPARATORS.sub(" ", text).split())


def names_person(text: str, full_name: str) -> bool:
    """True when ``text`` (an SOP's author line, say) names the person called ``full_name``.

    It does when the person's whole name appears in it word for word, or their first initial
    and surname do ("Q. Okafor" names "Quentin Okafor"), after :func:`person_key`.
    """
    words = person_key(text).split()
    name = person_key(full_name).split()
    if not name:
        return False
    forms = [name]
    if len(name) >= 2:
        forms.append([name[0][0], name[-1]])
    return any(
        words[i : i + len(form)] == form
        for form in forms
        for i in range(len(words) - len(form) + 1)
    )
