"""Refuse XML documents that declare a DTD, before any parser sees them.

A DOCTYPE is where XML bombs (nested entities, "billion laughs") and XXE (external entities
reading local files or URLs) live, and no planning-data format needs one. Every XML entry
point of the harvest calls `refuse_dtd` first; the parsers keep `resolve_entities=False`,
`no_network=True` and `load_dtd=False` as the second line of defence.

Only the prolog is read (what precedes the root element), at most `MAX_PROLOG_BYTES`.
UTF-8 (with or without BOM), UTF-16/32 and the encoding named in the XML declaration are
understood, so a DOCTYPE cannot hide behind an encoding.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from planungsdaten.harvest.errors import SourceFormatError

MAX_PROLOG_BYTES = 1024**2
_CHUNK = 64 * 1024

XmlSource = Path | bytes | IO[bytes]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# without a BOM, per XML 1.0 appendix F: how "<" (or "<?xm") looks in the first bytes
_SNIFF = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # EBCDIC
)
_DECLARED = re.compile(r"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z][\w.:\-]*)["']""")
_SPACE = re.compile(r"[ \t\r\n]+")
_DOCTYPE = re.compile(r"<!DOCTYPE\s*([^\s\[>]*)", re.IGNORECASE)
_ROOT = re.compile(r"<([^\s/>!?]+)")
_ENTITY = re.compile(r"<!ENTITY", re.IGNORECASE)


class UnsafeXmlError(SourceFormatError):
    """An XML document declares a DTD (possible XML bomb or XXE): refused unread."""


@dataclass(frozen=True)
class Prolog:
    """What precedes the root element of an XML document."""

    doctype: str | None  # name in the DOCTYPE declaration ("" if none given); None: no DTD
    entities: bool  # the DTD declares entities
    root: str | None  # qualified name of the root element; None if not reached
    exhausted: bool  # MAX_PROLOG_BYTES read without reaching the root element


def _chunks(source: XmlSource) -> Iterator[bytes]:
    """The first MAX_PROLOG_BYTES of `source`, in chunks (a stream is consumed)."""
    if isinstance(source, bytes):
        yield source[:MAX_PROLOG_BYTES]
        return
    if isinstance(source, Path):
        with source.open("rb") as fh:
            yield from _chunks(fh)
        return
    remaining = MAX_PROLOG_BYTES
    while remaining > 0:
        chunk = source.read(min(_CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _decode(data: bytes) -> str:
    """`data` as text, in the encoding its BOM, first bytes or XML declaration give."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(name, errors="replace")
    encoding = next((name for head, name in _SNIFF if data.startswith(head)), "utf-8")
    text = data.decode(encoding, errors="replace")
    declared = _DECLARED.match(text)
    if declared is None or encoding not in ("utf-8", "cp037"):
        return text
    # the declaration names the encoding of the rest (UTF-7 would hide "<!DOCTYPE" as
    # "+ADw-!DOCTYPE"); a name that does not even fit the declaration itself is ignored,
    # as libxml2 does for "UTF-16" in an 8-bit document
    try:
        named = codecs.lookup(declared.group(1)).name
    except LookupError:
        return text  # unknown to Python: the parsers' own settings are the guard then
    retold = data.decode(named, errors="replace")
    return retold if retold.startswith("<?xml") else text


def _scan(text: str, finished: bool) -> Prolog | None:
    """The prolog of `text` (which starts with "<" after white space); None when more text
    is needed to tell."""
    pos = 0
    while True:
        space = _SPACE.match(text, pos)
        if space is not None:
            pos = space.end()
        rest = text[pos : pos + 9]
        if not rest:
            break
        if rest.startswith(("<?", "<!--")):
            close = "?>" if rest.startswith("<?") else "-->"
            end = text.find(close, pos + 2)
            if end < 0:
                break
            pos = end + len(close)
            continue
        if rest.upper().startswith("<!DOCTYPE"):
            doctype = _DOCTYPE.match(text, pos)
            name = doctype.group(1) if doctype is not None else ""
            return Prolog(name, _ENTITY.search(text, pos) is not None, None, False)
        if rest.startswith("<!") and len(rest) < 9 and not finished:
            break  # perhaps a DOCTYPE cut at the end of what was read so far
        root = _ROOT.match(text, pos)
        if root is None:
            return Prolog(None, False, None, False)  # not well-formed: the parser says so
        if root.end() < len(text) or finished:
            return Prolog(None, False, root.group(1), False)
        break
    return Prolog(None, False, None, False) if finished else None


def read_prolog(source: XmlSource) -> Prolog | None:
    """The prolog of an XML document; None when `source` does not start like XML."""
    data = b""
    for chunk in _chunks(source):
        data += chunk
        text = _decode(data)
        head = text.lstrip(" \t\r\n")
        if not head:
            continue  # white space so far
        if not head.startswith("<"):
            return None
        prolog = _scan(text, finished=False)
        if prolog is not None:
            return prolog
    text = _decode(data)
    if not text.lstrip(" \t\r\n").startswith("<"):
        return None
    if len(data) >= MAX_PROLOG_BYTES:
        return Prolog(None, False, None, True)
    return _scan(text, finished=True)


def _shown(name: str) -> str:
    return re.sub(r"[^\w:.\-]", "", name)[:60]


def refuse_dtd(source: XmlSource, label: str) -> Prolog | None:
    """Raise UnsafeXmlError when the document declares a DTD; `label` names it in German
    ("NAS-Datei flurstuecke.xml"). Returns the prolog, or None for what is not XML."""
    prolog = read_prolog(source)
    if prolog is None:
        return None
    if prolog.exhausted:
        raise UnsafeXmlError(
            f"{label}: mehr als {MAX_PROLOG_BYTES // 1024**2} MiB vor dem Wurzelelement "
            "(Kommentare, Verarbeitungsanweisungen) – aus Sicherheitsgründen nicht gelesen"
        )
    if prolog.doctype is None:
        return prolog
    name = _shown(prolog.doctype)
    if name.lower() == "html":
        raise SourceFormatError(f"{label} ist eine HTML-Seite (<!DOCTYPE html>), kein XML")
    declaration = f"<!DOCTYPE {name} …>" if name else "<!DOCTYPE …>"
    entities = " mit Entitäten" if prolog.entities else ""
    raise UnsafeXmlError(
        f"{label} enthält eine DTD ({declaration}){entities} – aus Sicherheitsgründen nicht "
        "gelesen (XML-Bombe/XXE); der Anbieter muss die Datei ohne DOCTYPE liefern"
    )
