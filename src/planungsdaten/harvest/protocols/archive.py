"""Unpack downloaded ZIP archives without trusting them, and pick the dataset inside."""

from __future__ import annotations

import contextlib
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from planungsdaten.harvest.errors import SourceFormatError

_CHUNK = 1024 * 1024
_UTF8_FLAG = 0x800
_DRIVE = re.compile(r"^[A-Za-z]:")
_JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member name; names stored as UTF-8 without the UTF-8 flag are decoded as UTF-8."""
    name = info.filename
    if not info.flag_bits & _UTF8_FLAG:
        # genuinely cp437 names fail to decode: zipfile's decoding stands
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("cp437").decode("utf-8")
    return name


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _relative_parts(archive: Path, info: zipfile.ZipInfo, name: str) -> tuple[str, ...]:
    """The member's path below the destination; unsafe paths are refused."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or _DRIVE.match(posix):
        raise SourceFormatError(
            f"Archiv {archive.name}: Mitglied '{name}' hat einen absoluten Pfad – nicht entpackt"
        )
    parts = tuple(p for p in PurePosixPath(posix).parts if p not in ("", "."))
    if ".." in parts:
        raise SourceFormatError(
            f"Archiv {archive.name}: Mitglied '{name}' verweist mit '..' aus dem Zielordner "
            "heraus – nicht entpackt"
        )
    if _is_symlink(info):
        raise SourceFormatError(
            f"Archiv {archive.name}: Mitglied '{name}' ist ein symbolischer Link – nicht entpackt"
        )
    return parts


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as e:
        raise SourceFormatError(
            f"Archiv {archive.name} ist keine lesbare ZIP-Datei (beschädigt oder unvollständig "
            f"heruntergeladen): {e}"
        ) from e


def _too_large(archive: Path, name: str, max_total_bytes: int) -> SourceFormatError:
    return SourceFormatError(
        f"Archiv {archive.name}: entpackt größer als {max_total_bytes:,} Bytes "
        f"(erreicht bei Mitglied '{name}') – als ZIP-Bombe verworfen".replace(",", ".")
    )


def _check_members(
    archive: Path, infos: list[zipfile.ZipInfo], max_total_bytes: int, max_members: int
) -> list[tuple[zipfile.ZipInfo, str, tuple[str, ...]]]:
    if len(infos) > max_members:
        raise SourceFormatError(
            f"Archiv {archive.name} enthält {len(infos)} Mitglieder, erlaubt sind {max_members}"
        )
    checked = []
    seen: set[tuple[str, ...]] = set()
    declared = 0
    for info in infos:
        name = _member_name(info)
        parts = _relative_parts(archive, info, name)
        if info.flag_bits & 0x1:
            raise SourceFormatError(
                f"Archiv {archive.name}: Mitglied '{name}' ist verschlüsselt – nicht entpackt"
            )
        if not parts:
            continue
        if parts in seen and not info.is_dir():
            raise SourceFormatError(f"Archiv {archive.name}: Mitglied '{name}' kommt doppelt vor")
        seen.add(parts)
        declared += info.file_size
        if declared > max_total_bytes:  # cheap early refusal; real bytes are counted below
            raise _too_large(archive, name, max_total_bytes)
        checked.append((info, name, parts))
    return checked


def _extract_member(
    archive: Path,
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    target: Path,
    *,
    total: int,
    limit: int,
) -> int:
    """Copy one member to `target`; returns the running total of real bytes, checked."""
    try:
        with zf.open(info) as src, target.open("wb") as out:
            while chunk := src.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise _too_large(archive, name, limit)
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise SourceFormatError(
            f"Archiv {archive.name}: Mitglied '{name}' ist beschädigt oder unvollständig: {e}"
        ) from e
    except NotImplementedError as e:
        raise SourceFormatError(
            f"Archiv {archive.name}: Mitglied '{name}' nutzt ein nicht unterstütztes "
            f"Kompressionsverfahren: {e}"
        ) from e
    return total


def safe_extract(
    archive: Path, dest: Path, *, max_total_bytes: int, max_members: int = 10_000
) -> list[Path]:
    """Extract a ZIP into `dest`, refusing unsafe paths, links, bombs and corrupt archives."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    created: list[Path] = []
    extracted: list[Path] = []
    try:
        with _open_zip(archive) as zf:
            members = _check_members(archive, zf.infolist(), max_total_bytes, max_members)
            total = 0
            for info, name, parts in members:
                target = root.joinpath(*parts)
                if not target.resolve().is_relative_to(root):
                    raise SourceFormatError(
                        f"Archiv {archive.name}: Mitglied '{name}' liegt außerhalb des "
                        "Zielordners – nicht entpackt"
                    )
                folder = target if info.is_dir() else target.parent
                for parent in reversed([folder, *folder.parents]):
                    if parent.is_relative_to(root) and not parent.exists():
                        parent.mkdir()
                        created.append(parent)
                if info.is_dir():
                    continue
                created.append(target)
                total = _extract_member(
                    archive, zf, info, name, target, total=total, limit=max_total_bytes
                )
                extracted.append(target)
    except BaseException:
        for path in reversed(created):
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
            else:
                path.unlink(missing_ok=True)
        raise
    return extracted


def _is_junk(path: Path) -> bool:
    text = path.as_posix()
    return "__MACOSX/" in text or path.name.startswith("._") or path.name in _JUNK_NAMES


def find_member(
    paths: Sequence[Path], suffixes: Iterable[str], *, archive: Path | None = None
) -> Path:
    """The one file among `paths` with one of `suffixes` (e.g. ".gpkg"); none or several fail."""
    wanted = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes)
    matches = [p for p in paths if p.suffix.lower() in wanted and not _is_junk(p)]
    where = f"im Archiv {archive.name}" if archive is not None else "unter den entpackten Dateien"
    if not matches:
        present = ", ".join(sorted(p.name for p in paths)) or "keine Dateien"
        raise SourceFormatError(
            f"Keine Datei mit der Endung {', '.join(wanted)} {where} (enthalten: {present})"
        )
    if len(matches) > 1:
        names = ", ".join(sorted(p.name for p in matches))
        raise SourceFormatError(
            f"Mehrere passende Dateien {where}: {names} – das gewünschte Mitglied in der "
            "Quelldefinition angeben (format.member)"
        )
    return matches[0]
