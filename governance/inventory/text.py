"""Text from AWS shown so that it reads as what it is: direction controls and look-alikes made visible.

AWS accepts almost any character in names, tags, paths, descriptions and policy documents, and
some change what a reader sees without changing what is there:

- direction controls and invisible characters: U+202E (right-to-left override) makes
  "evil\u202egnp.exe" read as "evilexe.png"; zero-width spaces and joiners, the soft hyphen, tag
  characters (U+E0000..) and other format characters hide text or split a word invisibly;
- look-alikes: a Cyrillic "\u0430" in "p\u0430yments-admin", or a fullwidth "\uff21", reads as Latin but is a
  different name.

`reveal(text)` replaces each such character with its code point, `⟦U+202E⟧`, and is the one
function every page and the admin use (the `|reveal` template filter, a builtin, so every template
has it). A letter is a look-alike when its word (a run of letters and digits) mixes Latin with
another script, or when it is a compatibility form of an ASCII character; words written wholly in
one script ("Иван", "山田") are left as they are. The replacement holds no HTML-significant
character, so revealing already-escaped HTML (`SafeString`) keeps it safe and stays safe.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from django.utils.safestring import SafeData, mark_safe

_WORD = re.compile(r"[^\W_]+")
# Whitespace that lays text out is kept; every other control or format character is marked.
_LAYOUT = frozenset("\t\n\r")


@dataclass(frozen=True)
class Marked:
    """One character `reveal` marks, and why."""

    char: str
    why: str  # "invisible" or "look-alike"

    @property
    def code(self) -> str:
        return f"U+{ord(self.char):04X}"

    @property
    def name(self) -> str:
        return unicodedata.name(self.char, "unnamed character")


@lru_cache(maxsize=4096)
def _invisible(char: str) -> bool:
    if char in _LAYOUT:
        return False
    category = unicodedata.category(char)
    return category in ("Cf", "Cc", "Zl", "Zp", "Co", "Cn") or char in "\u115f\u1160\u3164\uffa0\u034f"


@lru_cache(maxsize=4096)
def _script(char: str) -> str:
    """The first word of a letter's Unicode name (LATIN, CYRILLIC, GREEK, ...); "" for others."""
    if not unicodedata.category(char).startswith("L"):
        return ""
    return unicodedata.name(char, "").split(" ", 1)[0]


@lru_cache(maxsize=4096)
def _compatibility_ascii(char: str) -> bool:
    """A fullwidth, mathematical or other compatibility form of an ASCII character (U+FF21, U+1D41A, U+FB01)."""
    if char.isascii() or unicodedata.category(char)[0] not in "LN":  # letters and digits: "…" is fine
        return False
    folded = unicodedata.normalize("NFKC", char)
    return folded != char and folded.isascii() and folded.strip() != ""


def _positions(text: str) -> dict[int, Marked]:
    """Index -> mark, for every character of `text` that `reveal` marks."""
    if text.isascii():
        return {i: Marked(c, "invisible") for i, c in enumerate(text) if _invisible(c)}
    found: dict[int, Marked] = {}
    for index, char in enumerate(text):
        if _invisible(char):
            found[index] = Marked(char, "invisible")
        elif _compatibility_ascii(char):
            found[index] = Marked(char, "look-alike")
    for word in _WORD.finditer(text):
        scripts = {_script(c) for c in word.group()} - {""}
        if "LATIN" in scripts and len(scripts) > 1:
            for offset, char in enumerate(word.group()):
                if _script(char) not in ("", "LATIN"):
                    found.setdefault(word.start() + offset, Marked(char, "look-alike"))
    return found


def marked(text: str) -> list[Marked]:
    """The characters of `text` that `reveal` marks, in order (none for plain, visible ASCII)."""
    found = _positions(text)
    return [found[i] for i in sorted(found)]


def reveal(value: object) -> str:
    """`value` as text with every marked character shown as `⟦U+XXXX⟧`; HTML-safe input stays safe."""
    text = str(value)
    found = _positions(text)
    if not found:
        return value if isinstance(value, SafeData) else text  # type: ignore[return-value]
    result = "".join(f"\u27e6{found[i].code}\u27e7" if i in found else c for i, c in enumerate(text))
    return mark_safe(result) if isinstance(value, SafeData) else result  # noqa: S308 - only code points added
