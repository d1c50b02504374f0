"""safe_extract() and find_member(): hostile and broken ZIPs are refused, good ones unpacked."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.protocols.archive import find_member, safe_extract

MB = 1024**2


def _zip(path: Path, members: dict[str, bytes], *, level: int = 6) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def _all_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_good_zip_extracts(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "good.zip",
        {"readme.txt": b"hallo", "daten/": b"", "daten/gitter.csv": b"GITTER_ID_100m;x\n"},
    )
    dest = tmp_path / "out"
    paths = safe_extract(archive, dest, max_total_bytes=MB)
    assert sorted(paths) == [dest / "daten" / "gitter.csv", dest / "readme.txt"]
    assert (dest / "daten" / "gitter.csv").read_bytes() == b"GITTER_ID_100m;x\n"


def test_parent_components_are_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "evil.zip", {"ok.txt": b"ok", "../evil": b"pwned"})
    dest = tmp_path / "out"
    with pytest.raises(SourceFormatError, match=r"evil\.zip.*'\.\./evil'"):
        safe_extract(archive, dest, max_total_bytes=MB)
    assert not (tmp_path / "evil").exists()
    assert _all_files(dest) == []


def test_absolute_paths_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "abs-evil"
    archive = _zip(tmp_path / "abs.zip", {str(target): b"pwned"})
    with pytest.raises(SourceFormatError, match="absoluten Pfad"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=MB)
    assert not target.exists()


def test_windows_drive_paths_are_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "win.zip", {"C:/Windows/evil.dll": b"x"})
    with pytest.raises(SourceFormatError, match="absoluten Pfad"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=MB)


def test_symlinks_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(SourceFormatError, match=r"'link' ist ein symbolischer Link"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=MB)
    assert not (tmp_path / "out" / "link").exists()


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", {"zeros.csv": bytes(50 * MB)}, level=9)
    assert archive.stat().st_size < MB
    with pytest.raises(SourceFormatError, match=r"bomb\.zip.*größer als 10\.485\.760 Bytes"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=10 * MB)
    assert _all_files(tmp_path / "out") == []


def test_bomb_with_lying_header_is_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "liar.zip", {"zeros.csv": bytes(20 * MB)}, level=9)
    data = bytearray(archive.read_bytes())
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, 1000)  # uncompressed size, local header
    struct.pack_into("<I", data, central + 24, 1000)  # uncompressed size, central directory
    archive.write_bytes(bytes(data))
    with pytest.raises(SourceFormatError, match=r"liar\.zip.*'zeros\.csv'"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=10 * MB)
    assert _all_files(tmp_path / "out") == []


def test_too_many_members(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(11)})
    with pytest.raises(SourceFormatError, match="11 Mitglieder, erlaubt sind 10"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=MB, max_members=10)


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    good = _zip(tmp_path / "good.zip", {"a.csv": b"a;b\n" * 10_000})
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SourceFormatError, match=r"truncated\.zip.*unvollständig"):
        safe_extract(truncated, tmp_path / "out", max_total_bytes=MB)


def test_corrupt_member_is_refused_and_cleaned_up(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bad.zip", {"a.txt": b"fine", "b.csv": b"a;b\n" * 10_000})
    data = bytearray(archive.read_bytes())
    body = data.index(b"b.csv") + len(b"b.csv") + 20
    data[body : body + 40] = bytes(40)
    archive.write_bytes(bytes(data))
    with pytest.raises(SourceFormatError, match=r"'b\.csv' ist beschädigt"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=MB)
    assert _all_files(tmp_path / "out") == []


def test_not_a_zip(tmp_path: Path) -> None:
    text = tmp_path / "daten.zip"
    text.write_text("<html>Wartungsarbeiten</html>")
    with pytest.raises(SourceFormatError, match=r"daten\.zip ist keine lesbare ZIP-Datei"):
        safe_extract(text, tmp_path / "out", max_total_bytes=MB)


def test_utf8_names_without_flag_are_decoded(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("Bevölkerung.csv", b"x")
    data = bytearray(buffer.getvalue())
    # clear the UTF-8 flag (general purpose bit 11) as some Windows tools do
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        struct.pack_into("<H", data, at, struct.unpack_from("<H", data, at)[0] & ~0x800)
    archive = tmp_path / "umlaut.zip"
    archive.write_bytes(bytes(data))
    assert safe_extract(archive, tmp_path / "out", max_total_bytes=MB) == [
        tmp_path / "out" / "Bevölkerung.csv"
    ]


def test_find_member_picks_the_dataset(tmp_path: Path) -> None:
    paths = [
        tmp_path / "x" / "liesmich.txt",
        tmp_path / "x" / "Flurstuecke.GPKG",
        tmp_path / "__MACOSX" / "x" / "._Flurstuecke.gpkg",
    ]
    assert find_member(paths, [".gpkg"]) == paths[1]
    assert find_member(paths, ["gpkg", ".shp"]) == paths[1]


def test_find_member_none_or_ambiguous(tmp_path: Path) -> None:
    paths = [tmp_path / "a.shp", tmp_path / "b.shp", tmp_path / "a.dbf"]
    with pytest.raises(SourceFormatError, match=r"Keine Datei mit der Endung \.gpkg.*a\.dbf"):
        find_member(paths, [".gpkg"], archive=tmp_path / "alkis.zip")
    with pytest.raises(SourceFormatError, match=r"Mehrere.*alkis\.zip: a\.shp, b\.shp"):
        find_member(paths, [".shp"], archive=tmp_path / "alkis.zip")
