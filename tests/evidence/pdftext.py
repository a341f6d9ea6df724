"""The text of a WeasyPrint PDF, read with the standard library only (no PDF reader is a dependency).

WeasyPrint writes text as glyph ids (`[<0034>0<0017>...] TJ`) and gives each font a ToUnicode
CMap mapping glyph ids to characters. This inflates every stream, reads each CMap, and decodes the
content streams' glyph runs with each font's map in turn: a line set in one font comes out as text
under that font's map. Enough to assert that a phrase is on the page; not a general PDF parser.
"""

from __future__ import annotations

import re
import zlib

_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_PAIR = re.compile(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>")
_RANGE = re.compile(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>")
_RUN = re.compile(rb"\[(.*?)\]\s*TJ", re.S)
_HEX = re.compile(rb"<([0-9a-fA-F]*)>")


def _unicode(hex_text: bytes) -> str:
    return bytes.fromhex(hex_text.decode()).decode("utf-16-be")


def _streams(data: bytes) -> list[bytes]:
    out = []
    for raw in _STREAM.findall(data):
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


def _cmap(stream: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for block in _BFCHAR.findall(stream):
        for glyph, text in _PAIR.findall(block):
            mapping[int(glyph, 16)] = _unicode(text)
    for block in _BFRANGE.findall(stream):
        for low, high, first in _RANGE.findall(block):
            start = ord(_unicode(first))
            for offset, glyph in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[glyph] = chr(start + offset)
    return mapping


def pdf_texts(data: bytes) -> list[str]:
    """The document's text once per font map (each line is right under the map of its font)."""
    streams = _streams(data)
    maps = [_cmap(s) for s in streams if b"begincmap" in s]
    runs = [run for s in streams if b" TJ" in s for run in _RUN.findall(s)]
    texts = []
    for mapping in maps:
        lines = []
        for run in runs:
            glyphs = b"".join(_HEX.findall(run)).decode()
            lines.append("".join(mapping.get(int(glyphs[i : i + 4], 16), "\ufffd") for i in range(0, len(glyphs), 4)))
        texts.append("\n".join(lines))
    return texts


def pdf_contains(data: bytes, phrase: str) -> bool:
    return any(phrase in text for text in pdf_texts(data))
