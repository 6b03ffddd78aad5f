"""Reading script files: ``kmscript FILE``, ``kmscript test`` and ``include "lib.kms"``.

A script file is read by :func:`read_script`: at most ``MAX_SCRIPT_BYTES`` bytes (a
larger file is refused before it is read into memory; ``/dev/zero`` cannot exhaust the
host), opened without blocking (a FIFO with no writer does not hang) and decoded as
strict UTF-8.  Every failure is a :class:`KmsUsageError` that names the file and never
echoes its contents.

``include`` is for scripts, not for reading the host's files.  :func:`resolve_include`
allows a path only when

- it ends in ``.kms``, and so does the file it finally resolves to (symlinks followed);
- it is relative to the including file's directory (the working directory for ``-c``,
  standard input and the REPL), or absolute;
- the resolved file lies inside an allowed root: the directory of the top-level script
  or the working directory (a symlink or ``..`` cannot escape them), and never under
  ``/proc``, ``/sys`` or ``/dev``;
- it is a regular file, and the include nesting is at most ``MAX_INCLUDE_DEPTH`` deep
  with no cycle.

Anything else is an error at the ``include`` statement that quotes only the path the
script wrote.

Pictures and charts (``plot "out.svg"``, ``show memmap "map.png"``) are the only files a
script writes.  :func:`resolve_output` allows a path only when it ends in one of the
picture suffixes (``.svg``, ``.png``, ``.pdf``; a symlink must point to one too), it lies
inside the same allowed roots as includes (not under ``/proc``, ``/sys``, ``/dev``), and
what is there already, if anything, is a regular file: a script cannot overwrite a
script, a dotfile or a device.  (``--plot FILE`` on the command line is the user's own
choice and is not restricted.)
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import KmsUsageError
from .limits import MAX_SCRIPT_CHARS

# UTF-8 takes at most 4 bytes a character, so no longer file can hold an allowed script.
MAX_SCRIPT_BYTES = 4 * MAX_SCRIPT_CHARS
MAX_INCLUDE_DEPTH = 16
SUFFIX = ".kms"
_FORBIDDEN = (Path("/proc"), Path("/sys"), Path("/dev"))


def read_script(path: str | Path, *, regular_only: bool = False) -> str:
    """The text of a script file; KmsUsageError("cannot read PATH: why") otherwise.

    The top-level file may be a pipe (``kmscript <(generate)``); an included one must be
    a regular file (*regular_only*)."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise KmsUsageError(f"cannot read {name}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise KmsUsageError(f"cannot read {name}: it is a directory")
        if not stat.S_ISREG(st.st_mode):
            if regular_only or not stat.S_ISFIFO(st.st_mode):
                raise KmsUsageError(f"cannot read {name}: not a regular file")
            os.set_blocking(fd, True)  # a pipe the user handed us: wait for its writer
        elif st.st_size > MAX_SCRIPT_BYTES:
            raise KmsUsageError(f"cannot read {name}: {st.st_size} bytes is too big for a script "
                                f"(at most {MAX_SCRIPT_BYTES})")
        data = _read_at_most(fd, MAX_SCRIPT_BYTES + 1)
    except OSError as e:
        raise KmsUsageError(f"cannot read {name}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    return decode_script(data, name)


def decode_script(data: bytes, name: str) -> str:
    """Script bytes as text (a file, standard input, ``-c``): bounded, strict UTF-8."""
    if len(data) > MAX_SCRIPT_BYTES:
        raise KmsUsageError(f"cannot read {name}: too big for a script (at most {MAX_SCRIPT_BYTES} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise KmsUsageError(f"cannot read {name}: not UTF-8 text (byte 0x{data[e.start]:02x} on line {line})") \
            from None


def read_stream(stream: BinaryIO, name: str) -> str:
    """A script from a stream (standard input), read up to the size limit."""
    return decode_script(stream.read(MAX_SCRIPT_BYTES + 1), name)


def script_from_argument(code: str, name: str) -> str:
    """``-c CODE``: Python decodes a command-line argument that is not UTF-8 with
    surrogate escapes; such an argument is refused like a file that is not UTF-8."""
    try:
        code.encode("utf-8")
    except UnicodeEncodeError:
        return decode_script(code.encode("utf-8", "surrogateescape"), name)
    return code


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(1 << 16, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def allowed_roots(top_level: str | None) -> list[Path]:
    """Where includes may come from: the top-level script's directory and the working
    directory (resolved)."""
    roots = [Path.cwd().resolve()]
    if top_level is not None:
        roots.insert(0, Path(top_level).resolve().parent)
    return roots


PICTURE_SUFFIXES = (".svg", ".png", ".pdf")


def resolve_output(target: str, including: str | None, roots: list[Path],
                   suffixes: tuple[str, ...] = PICTURE_SUFFIXES) -> Path:
    """The file a picture statement in the file *including* (None: not a file) may write;
    KmsUsageError otherwise (see the module docstring)."""
    wanted = " or ".join(suffixes)
    if not target.lower().endswith(suffixes):
        raise KmsUsageError(f"cannot write {target!r}: a picture file name ends in {wanted}")
    base = Path(including).parent if including is not None else Path.cwd()
    path = (base / target).resolve()
    if not path.name.lower().endswith(suffixes):
        raise KmsUsageError(f"cannot write {target!r}: it is a link to a file that does not end in {wanted}")
    if any(path.is_relative_to(f) for f in _FORBIDDEN):
        raise KmsUsageError(f"cannot write {target!r}: {path.parts[1]} is not a place for pictures")
    if not any(path.is_relative_to(r) for r in roots):
        where = " and ".join(str(r) for r in roots)
        raise KmsUsageError(f"cannot write {target!r}: pictures are written only below {where} "
                            "(the script's own directory and the working directory)")
    if path.exists() and not path.is_file():
        raise KmsUsageError(f"cannot write {target!r}: it exists and is not a regular file")
    return path


def resolve_include(target: str, including: str | None, roots: list[Path], stack: list[str]) -> Path:
    """The file ``include "target"`` in the file *including* (None: not a file) names;
    KmsUsageError if the script may not include it (see the module docstring)."""
    if not target.endswith(SUFFIX):
        raise KmsUsageError(f"cannot include {target!r}: only {SUFFIX} scripts can be included")
    base = Path(including).parent if including is not None else Path.cwd()
    path = (base / target).resolve()
    if not path.name.endswith(SUFFIX):
        raise KmsUsageError(f"cannot include {target!r}: it is a link to a file that is not a {SUFFIX} script")
    if any(path.is_relative_to(f) for f in _FORBIDDEN):
        raise KmsUsageError(f"cannot include {target!r}: {path.parts[1]} is not a place for scripts")
    if not any(path.is_relative_to(r) for r in roots):
        where = " and ".join(str(r) for r in roots)
        raise KmsUsageError(f"cannot include {target!r}: scripts are included only from {where} "
                            "(the script's own directory and the working directory)")
    if str(path) in stack:
        raise KmsUsageError(f"include cycle: {target} is already being included")
    if len(stack) >= MAX_INCLUDE_DEPTH:
        raise KmsUsageError(f"cannot include {target!r}: includes nest more than {MAX_INCLUDE_DEPTH} deep")
    return path
