"""The parser cache cannot be poisoned: only a private 0700 directory, only files whose
digest we recorded, and anything stale, truncated or foreign is rebuilt, never an error."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from kmscript.lang import parser_cache
from kmscript.lang.parser_cache import DIGEST_SUFFIX, cache_dir, is_trusted, lark_cache_file

ROOT = Path(__file__).resolve().parents[2]
PROBE = "from kmscript.lang.parser import parse\nprint(parse('x = 1 + 2').body[0].value.op)\n"


def run_probe(cache_home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)


def cache_files(cache_home: Path) -> list[Path]:
    return sorted((cache_home / "kmscript").glob("*.lark"))


def test_directory_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    d = cache_dir()
    assert d == str(tmp_path / "c" / "kmscript")
    assert os.stat(d).st_mode & 0o777 == 0o700


def test_relative_xdg_cache_home_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    assert cache_dir() is None
    with lark_cache_file("1.3.1", "grammar") as path:
        assert path is None


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o705])
def test_a_directory_only_we_can_write_is_made_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       mode: int) -> None:
    d = tmp_path / "kmscript"
    d.mkdir()
    d.chmod(mode)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == str(d)
    assert d.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o770, 0o777, 0o1777, 0o702])
def test_a_directory_others_can_write_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int) -> None:
    d = tmp_path / "kmscript"
    d.mkdir()
    d.chmod(mode)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() is None


def test_a_symlinked_directory_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    (tmp_path / "kmscript").symlink_to(real)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() is None


def test_a_directory_owned_by_someone_else_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() is not None
    real_uid = os.getuid()
    monkeypatch.setattr(parser_cache.os, "getuid", lambda: real_uid + 1)
    assert cache_dir() is None


def test_key_holds_the_lark_version_and_the_grammar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    names = set()
    for version, grammar in (("1.3.1", "g1"), ("1.3.2", "g1"), ("1.3.1", "g2")):
        with lark_cache_file(version, grammar) as path:
            assert path is not None
            names.add(Path(path).name)
    assert len(names) == 3 and all("1.3." in n for n in names)


def test_untrusted_files_are_removed_before_lark_sees_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with lark_cache_file("1.3.1", "g") as path:
        assert path is not None
        Path(path).write_bytes(b"written by Lark")
    assert is_trusted(path)  # its digest was recorded when the block ended
    with lark_cache_file("1.3.1", "g") as again:
        assert again == path and Path(path).read_bytes() == b"written by Lark"
    Path(path).write_bytes(b"replaced by someone else")
    assert not is_trusted(path)
    with lark_cache_file("1.3.1", "g") as again:
        assert again == path and not Path(path).exists()


def test_first_run_writes_a_trusted_cache_and_later_runs_reuse_it(tmp_path: Path) -> None:
    first = run_probe(tmp_path)
    assert (first.returncode, first.stdout, first.stderr) == (0, "+\n", "")
    (f,) = cache_files(tmp_path)
    assert is_trusted(str(f)) and f.stat().st_mode & 0o077 == 0
    before = (f.stat().st_ino, f.stat().st_mtime_ns)
    second = run_probe(tmp_path)
    assert (second.returncode, second.stdout, second.stderr) == (0, "+\n", "")
    assert (f.stat().st_ino, f.stat().st_mtime_ns) == before  # loaded, not rewritten


class _Payload:
    """A pickle that would create a file if anyone unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_pickle_is_never_loaded(tmp_path: Path) -> None:
    assert run_probe(tmp_path).returncode == 0
    (f,) = cache_files(tmp_path)
    marker = tmp_path / "pwned"
    f.write_bytes(pickle.dumps(_Payload(marker)))  # no matching digest
    r = run_probe(tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "+\n", "")
    assert not marker.exists()
    assert is_trusted(str(f)) and b"system" not in f.read_bytes()


def test_truncated_and_stale_files_are_rebuilt(tmp_path: Path) -> None:
    assert run_probe(tmp_path).returncode == 0
    (f,) = cache_files(tmp_path)
    good = f.read_bytes()
    header = good.split(b"\n")[0]  # Lark's key line (the pickled rest varies run to run)
    f.write_bytes(good[: len(good) // 2])  # truncated (digest no longer matches)
    r = run_probe(tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "+\n", "")
    assert f.read_bytes().split(b"\n")[0] == header and len(f.read_bytes()) > len(good) // 2 and is_trusted(str(f))
    # A file we recorded ourselves but that Lark rejects (another Lark's header): Lark
    # rebuilds it, and the new file's digest is recorded.
    stale = b"0123456789abcdef\n" + pickle.dumps(set())
    f.write_bytes(stale)
    Path(str(f) + DIGEST_SUFFIX).write_text(hashlib.sha256(stale).hexdigest() + "\n")
    r = run_probe(tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "+\n", "")
    assert f.read_bytes().split(b"\n")[0] == header and len(f.read_bytes()) > len(good) // 2 and is_trusted(str(f))


def test_concurrent_first_runs(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", PROBE], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert (p.returncode, out, err) == (0, "+\n", "")
    (f,) = cache_files(tmp_path)
    assert is_trusted(str(f))


def test_no_cache_at_all_still_parses(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    r = run_probe(blocked)  # $XDG_CACHE_HOME is a file: no cache directory can exist
    assert (r.returncode, r.stdout, r.stderr) == (0, "+\n", "")
