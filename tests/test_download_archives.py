"""Archive sources: tar, tar.gz, tar.bz2, tar.xz (and zip) with member names, globs and lists.

Archives are built in tmp_path; build_corpus reads them from a mirror folder in tmp_path
(``<mirror>/<host>/<path>``), so no network is needed.
"""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from charlm.data import unpack as unpack_mod
from charlm.data.download import FetchConfig, build_corpus
from charlm.data.unpack import unpack
from charlm.core.errors import CorpusError, ParamsError
from charlm.params import CorpusSpec, from_dict

from helpers import sha256

FAST = FetchConfig(timeout=1.0, retries=0, backoff=0.01)
MB = 1 << 20
HOST = "archives.invalid"
STACKS = "raw.githubusercontent.com/stacks/stacks-project/4ac4815d5a00dc2eacab7824cf4e4baafe2773ac"
FILES = {"pkg/b.tex": b"bee\n", "pkg/a.tex": b"ay\n", "pkg/notes.txt": b"notes\n",
         "top.tex": b"top\n"}
MODES = {"tar": "w", "tar.gz": "w:gz", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}


def _tar(path: Path, files: dict[str, bytes], how: str = "tar.gz", extra=()) -> Path:
    """Write a tar of `files` (name -> bytes), then the TarInfo entries in `extra`."""
    with tarfile.open(path, MODES[how]) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        for ti in extra:
            t.addfile(ti)
    return path


def _link(name: str, kind: bytes, target: str = "pkg/a.tex") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = kind, target
    return ti


def _spec(**kw) -> CorpusSpec:
    return from_dict(CorpusSpec, kw, "corpora.test")


def _build(tmp_path: Path, data: bytes, name: str = "src.tar.gz", **kw):
    """build_corpus on one archive source served from a mirror folder in tmp_path."""
    url = f"https://{HOST}/{name}"
    (tmp_path / "m" / HOST).mkdir(parents=True, exist_ok=True)
    (tmp_path / "m" / HOST / name).write_bytes(data)
    cap = kw.pop("cap", MB)
    spec = _spec(sources=[{"url": url, "sha256": sha256(data)}], **kw)
    out = tmp_path / "raw" / "t.txt"
    info = build_corpus("t", spec, out, tmp_path / "cache", mirrors=[str(tmp_path / "m")],
                        cfg=FAST, max_unpacked_bytes=cap)
    return out, info


@pytest.mark.parametrize("how", ["tar", "tar.gz", "tar.bz2", "tar.xz"])
def test_each_tar_kind_reads_a_named_member(tmp_path, how):
    p = _tar(tmp_path / f"a.{how}", FILES, how)
    assert unpack(p, how, "pkg/b.tex", MB, "a") == b"bee\n"


@pytest.mark.parametrize("how", ["tar", "tar.gz", "tar.bz2", "tar.xz"])
def test_each_tar_kind_through_build_corpus(tmp_path, how):
    data = _tar(tmp_path / "x", FILES, how).read_bytes()
    out, info = _build(tmp_path, data, f"src.{how}", unpack=how, member="*.tex")
    assert out.read_text(encoding="utf-8") == "ay\nbee\ntop\n"
    assert info["chars"] == len("ay\nbee\ntop\n")


def test_glob_concatenates_matches_in_sorted_name_order(tmp_path):
    p = _tar(tmp_path / "a.tar.gz", FILES)
    assert unpack(p, "tar.gz", "pkg/*.tex", MB, "a") == b"ay\nbee\n"
    assert unpack(p, "tar.gz", "*.tex", MB, "a") == b"ay\nbee\ntop\n"      # * also matches /
    assert unpack(p, "tar.gz", "pkg/[ab].tex", MB, "a") == b"ay\nbee\n"


def test_list_of_patterns_is_deduplicated_and_sorted(tmp_path):
    p = _tar(tmp_path / "a.tar", FILES, "tar")
    got = unpack(p, "tar", ["top.tex", "pkg/*.txt", "pkg/a.tex", "*/a.tex"], MB, "a")
    assert got == b"ay\nnotes\ntop\n"


def test_a_member_stored_twice_is_read_once_the_last_copy(tmp_path):
    p = tmp_path / "dup.tar"
    _tar(p, {"x.tex": b"old\n"}, "tar")
    with tarfile.open(p, "a") as t:
        ti = tarfile.TarInfo("x.tex")
        ti.size = 4
        t.addfile(ti, io.BytesIO(b"new\n"))
    assert unpack(p, "tar", "*.tex", MB, "a") == b"new\n"


def test_a_pattern_matching_nothing_lists_the_first_members(tmp_path):
    p = _tar(tmp_path / "a.tar.gz", FILES)
    with pytest.raises(CorpusError, match=r"^a: tar.gz has no member '\*\.md' \(members: "
                                          r"pkg/a.tex, pkg/b.tex, pkg/notes.txt, top.tex\)$"):
        unpack(p, "tar.gz", "*.md", MB, "a")
    with pytest.raises(CorpusError, match=r"no member 'pkg/c.tex'"):     # every pattern must match
        unpack(p, "tar.gz", ["*.tex", "pkg/c.tex"], MB, "a")
    many = _tar(tmp_path / "many.tar", {f"f{i:02d}": b"x" for i in range(12)}, "tar")
    listed = r"\(members: f00, f01, f02, f03, f04, \.\.\. \(12 in all\)\)$"
    with pytest.raises(CorpusError, match=listed):
        unpack(many, "tar", "g*", MB, "many")


def test_a_dotdot_member_anywhere_refuses_the_archive(tmp_path):
    p = _tar(tmp_path / "evil.tar.gz", {**FILES, "pkg/../../evil.tex": b"x"})
    with pytest.raises(CorpusError, match=r"unsafe member path 'pkg/\.\./\.\./evil\.tex'"):
        unpack(p, "tar.gz", "top.tex", MB, "evil")


@pytest.mark.parametrize("name", ["/etc/evil.tex", "C:evil.tex", "\\\\server\\evil.tex"])
def test_an_absolute_or_drive_member_refuses_the_archive(tmp_path, name):
    p = _tar(tmp_path / "evil.tar", {"top.tex": b"top\n", name: b"x"}, "tar")
    with pytest.raises(CorpusError, match="unsafe member path"):
        unpack(p, "tar", "top.tex", MB, "evil")


def test_a_matched_symlink_is_refused_and_never_followed(tmp_path):
    p = _tar(tmp_path / "a.tar.gz", FILES, extra=[_link("pkg/z.tex", tarfile.SYMTYPE)])
    with pytest.raises(CorpusError, match=r"^a: member 'pkg/z.tex' is a symlink, not a regular"):
        unpack(p, "tar.gz", "*.tex", MB, "a")
    assert unpack(p, "tar.gz", "pkg/a.tex", MB, "a") == b"ay\n"     # an unmatched link is ignored


def test_a_matched_hardlink_is_refused(tmp_path):
    p = _tar(tmp_path / "a.tar", FILES, "tar", extra=[_link("pkg/z.tex", tarfile.LNKTYPE)])
    with pytest.raises(CorpusError, match=r"member 'pkg/z.tex' is a hardlink, not a regular file"):
        unpack(p, "tar", ["pkg/z.tex"], MB, "a")


@pytest.mark.parametrize("kind, word", [(tarfile.DIRTYPE, "directory"), (tarfile.FIFOTYPE, "fifo"),
                                        (tarfile.CHRTYPE, "device")])
def test_a_matched_directory_fifo_or_device_is_refused(tmp_path, kind, word):
    p = _tar(tmp_path / "a.tar", FILES, "tar", extra=[_link("pkg/z.tex", kind, "")])
    with pytest.raises(CorpusError, match=f"member 'pkg/z.tex' is a {word}, not a regular file"):
        unpack(p, "tar", "pkg/*", MB, "a")


def test_the_cap_applies_to_the_total_of_all_members(tmp_path):
    p = _tar(tmp_path / "a.tar.xz", {"a": b"x" * 600, "b": b"y" * 600}, "tar.xz")
    assert unpack(p, "tar.xz", "a", 1000, "a") == b"x" * 600          # each alone fits
    with pytest.raises(CorpusError, match=r"^a: unpacks to more than 1000 bytes \(max_unpacked"):
        unpack(p, "tar.xz", "*", 1000, "a")
    assert unpack(p, "tar.xz", "*", 1200, "a") == b"x" * 600 + b"y" * 600


def test_the_cap_holds_when_declared_sizes_understate_the_data():
    members = [unpack_mod._Member(n, "file", 0, lambda d=d: io.BytesIO(d))    # sizes claim 0
               for n, d in (("b", b"y" * 600), ("a", b"x" * 600))]
    with pytest.raises(CorpusError, match="more than 1000 bytes"):
        unpack_mod._read_members(members, 1000, "a")
    assert unpack_mod._read_members(members, 1200, "a") == b"x" * 600 + b"y" * 600


def test_the_cap_through_build_corpus_writes_nothing(tmp_path):
    data = _tar(tmp_path / "x", {"a": b"x" * 600, "b": b"y" * 600}).read_bytes()
    with pytest.raises(CorpusError, match="unpacks to more than 1000 bytes"):
        _build(tmp_path, data, unpack="tar.gz", member="*", cap=1000)
    assert not (tmp_path / "raw").exists() or list((tmp_path / "raw").iterdir()) == []


@pytest.mark.parametrize("how", ["tar.gz", "tar.bz2", "tar.xz"])
def test_a_truncated_archive_is_one_line_corrupt(tmp_path, how):
    big = {f"f{i}.tex": bytes(range(256)) * 64 for i in range(4)}     # 16 KiB each
    data = _tar(tmp_path / "x", big, how).read_bytes()
    p = tmp_path / f"cut.{how}"
    for end in (len(data) // 2, len(data) - 8):        # members cut; only the stream's end cut
        p.write_bytes(data[:end])
        with pytest.raises(CorpusError, match=rf"^cut: corrupt {how} archive \([^\n]*\)$"):
            unpack(p, how, "*.tex", MB, "cut")
    assert unpack(_tar(p, big, how), how, "*.tex", MB, "cut") == b"".join(big.values())


def test_garbage_and_a_truncated_plain_tar_are_corrupt(tmp_path):
    g = tmp_path / "g.tar.gz"
    g.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(CorpusError, match=r"^g: corrupt tar.gz archive \("):
        unpack(g, "tar.gz", "*", MB, "g")
    data = _tar(tmp_path / "x", {"a.tex": b"a" * 5000}, "tar").read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[:3000])                       # the header whole, the data cut short
    with pytest.raises(CorpusError, match=r"^cut: corrupt tar archive \("):
        unpack(cut, "tar", "a.tex", MB, "cut")


def test_corrupt_archive_through_build_corpus_writes_nothing(tmp_path):
    data = _tar(tmp_path / "x", FILES).read_bytes()[:-40]
    with pytest.raises(CorpusError, match=r"corrupt tar.gz archive \("):
        _build(tmp_path, data, unpack="tar.gz", member="*.tex")
    assert not (tmp_path / "raw" / "t.txt").exists()


def test_no_match_through_build_corpus_writes_nothing(tmp_path):
    data = _tar(tmp_path / "x", FILES).read_bytes()
    message = rf"^https://{HOST}/src.tar.gz: tar.gz has no member '\*.md' \(members: pkg/a.tex"
    with pytest.raises(CorpusError, match=message):
        _build(tmp_path, data, unpack="tar.gz", member="*.md")
    assert not (tmp_path / "raw" / "t.txt").exists()


@pytest.mark.parametrize("how", ["zip", "tar", "tar.gz", "tar.bz2", "tar.xz"])
def test_an_archive_needs_a_member(how):
    src = [{"url": "https://x.invalid/a", "sha256": "0" * 64}]
    message = rf"^corpora\.test\.member: required when unpack is '{how}'$"
    with pytest.raises(ParamsError, match=message):
        _spec(sources=src, unpack=how)
    with pytest.raises(ParamsError, match=message):
        _spec(sources=src, unpack=how, member=[])


def test_member_type_errors_are_one_line():
    src = [{"url": "https://x.invalid/a", "sha256": "0" * 64}]
    assert _spec(sources=src, unpack="tar", member=["*.tex", "a"]).member == ["*.tex", "a"]
    assert _spec(sources=src, unpack="tar.xz", member="*.tex").member == "*.tex"
    with pytest.raises(ParamsError, match=r"^corpora\.test\.member\[1\]: must be a string, got 3"):
        _spec(sources=src, unpack="tar", member=["*.tex", 3])
    with pytest.raises(ParamsError, match=r"^corpora\.test\.member: must be a string, got 3$"):
        _spec(sources=src, unpack="tar", member=3)
    with pytest.raises(ParamsError, match=r"^corpora\.test\.member\[0\]: must not be empty$"):
        _spec(sources=src, unpack="tar", member=[""])
    with pytest.raises(ParamsError, match=r"^corpora\.test\.unpack: must be one of .*got 'tgz'"):
        _spec(sources=src, unpack="tgz", member="*")


def _zip(path: Path, files: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        if symlink:
            zi = zipfile.ZipInfo(symlink)
            zi.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(zi, "pkg/a.tex")
    return path


def test_zip_glob_and_list_sorted_and_a_plain_name_still_works(tmp_path):
    p = _zip(tmp_path / "a.zip", FILES)
    assert unpack(p, "zip", "*.tex", MB, "a") == b"ay\nbee\ntop\n"
    assert unpack(p, "zip", ["pkg/notes.txt", "top.tex"], MB, "a") == b"notes\ntop\n"
    assert unpack(p, "zip", "pkg/b.tex", MB, "a") == b"bee\n"
    with pytest.raises(CorpusError, match=r"zip has no member '\*.md'"):
        unpack(p, "zip", "*.md", MB, "a")
    with pytest.raises(CorpusError, match="more than 10 bytes"):
        unpack(p, "zip", "*.tex", 10, "a")


def test_zip_glob_through_build_corpus_and_a_zip_symlink_is_refused(tmp_path):
    data = _zip(tmp_path / "x.zip", FILES).read_bytes()
    out, _ = _build(tmp_path, data, "src.zip", unpack="zip", member="pkg/*")
    assert out.read_text(encoding="utf-8") == "ay\nbee\nnotes\n"
    p = _zip(tmp_path / "l.zip", FILES, symlink="pkg/z.tex")
    with pytest.raises(CorpusError, match="member 'pkg/z.tex' is a symlink"):
        unpack(p, "zip", "*.tex", MB, "l")


def test_real_stacks_latex_in_a_tar_gz(mirror, tmp_path):
    folder = mirror / STACKS
    names = ["sets.tex", "conventions.tex", "introduction.tex"]
    p = tmp_path / "stacks.tar.gz"
    with tarfile.open(p, "w:gz") as t:
        for n in names:                                   # archive order is not sorted order
            t.add(folder / n, arcname=f"stacks-project-4ac4815/{n}")
        t.add(folder / "sets.tex", arcname="stacks-project-4ac4815/README.md")
    out, info = _build(tmp_path, p.read_bytes(), "stacks.tar.gz", unpack="tar.gz", member="*.tex")
    expected = "".join((folder / n).read_text(encoding="utf-8") for n in sorted(names))
    assert out.read_text(encoding="utf-8") == expected
    assert info["chars"] == len(expected) and info["sources"] == 1
