"""Where Lark may keep its serialised parser between runs, so that it cannot be poisoned.

Lark's cache file is a pickle: loading a file someone else wrote would run their code.
So the rules are:

- The cache lives only in ``$XDG_CACHE_HOME/kmscript`` (``~/.cache/kmscript`` when the
  variable is unset; a relative value is ignored, as the XDG spec says).  The directory
  is created with mode 0700 and used only if it is a real directory (not a symlink),
  owned by the current user, and not writable by group or others; one that others could
  only read (an older kmscript made it 0755) is made 0700 before use.  Otherwise, and
  on systems without ``fcntl``, there is no cache: the parser is built from the grammar.
  Nothing is ever put in a shared place such as ``/tmp``.
- Next to each cache file lies a SHA-256 of its bytes, written by us once Lark has
  written the file.  A file whose digest is missing or different (truncated, half
  written, left by another program, replaced) is deleted before Lark is called, so Lark
  only ever loads bytes that we saw it write.
- The file name holds Lark's version and a SHA-256 of the grammar and the parser
  options, so an upgrade or a grammar change never reads an old file (Lark's own header
  checks the same again).  A file Lark cannot use is rebuilt by Lark, never an error.
- Concurrent runs take an exclusive ``flock`` on ``parser.lock`` in that directory while
  they check, load or write, so no run reads a file another is writing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from contextlib import contextmanager
from typing import Iterator

DIGEST_SUFFIX = ".sha256"


def cache_dir() -> str | None:
    """The user's private kmscript cache directory, created if needed; None if unsafe."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    path = os.path.join(base, "kmscript")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None  # not creatable, or a symlink
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None  # someone else's, or others may have written into it
        if st.st_mode & 0o077:
            # Ours and never writable by others (an earlier kmscript made it 0755):
            # nothing in it can have been planted, so it can be made private.
            os.fchmod(fd, 0o700)
    except OSError:
        return None
    finally:
        os.close(fd)
    return path


def cache_key(lark_version: str, grammar_and_options: str) -> str:
    digest = hashlib.sha256(grammar_and_options.encode("utf-8")).hexdigest()[:32]
    safe_version = "".join(c if c.isalnum() or c in "._-" else "_" for c in lark_version)
    return f"lark-{safe_version}-{digest}"


def _read_own_file(path: str) -> bytes | None:
    """The bytes of a regular file owned by us and not writable by others, or None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def is_trusted(path: str) -> bool:
    """Does the cache file at *path* hold exactly the bytes whose digest we recorded?"""
    data = _read_own_file(path)
    recorded = _read_own_file(path + DIGEST_SUFFIX)
    if data is None or recorded is None:
        return False
    return hashlib.sha256(data).hexdigest().encode("ascii") == recorded.strip()


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fingerprint(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _record_digest(path: str) -> None:
    try:
        os.chmod(path, 0o600, follow_symlinks=False)  # Lark wrote it with the umask's mode
    except (OSError, NotImplementedError):
        pass
    data = _read_own_file(path)
    if data is None:
        _remove(path)
        return
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".digest-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(hashlib.sha256(data).hexdigest().encode("ascii") + b"\n")
        os.replace(tmp, path + DIGEST_SUFFIX)  # atomic: a reader sees the old or the new digest
    except OSError:
        _remove(tmp)


@contextmanager
def lark_cache_file(lark_version: str, grammar_and_options: str) -> Iterator[str | None]:
    """The path to hand to ``Lark(cache=...)``, or None for no cache.

    Inside the block the cache directory is locked; a file that is not trusted has been
    removed, so Lark either loads a file we recorded or builds and writes a new one,
    whose digest is recorded when the block ends.
    """
    directory = cache_dir()
    if directory is None:
        yield None
        return
    try:
        import fcntl
    except ImportError:  # no flock (Windows): no cache rather than a racy one
        yield None
        return
    try:
        lock = os.open(os.path.join(directory, "parser.lock"),
                       os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        yield None
        return
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:
            yield None
            return
        path = os.path.join(directory, cache_key(lark_version, grammar_and_options) + ".lark")
        trusted = is_trusted(path)
        if not trusted:
            _remove(path)
            _remove(path + DIGEST_SUFFIX)
        before = _fingerprint(path)
        yield path
        after = _fingerprint(path)
        if after is not None and (not trusted or after != before):
            _record_digest(path)  # Lark wrote (or rewrote) it inside our lock
    finally:
        os.close(lock)  # releases the flock
