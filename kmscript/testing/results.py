"""Results of scenario cases and the formats they are reported in.

A case ends in one of pytest's outcomes (PASS, FAIL, XFAIL, XPASS, SKIP, ERROR); a file's
result holds its cases, the output and the exit status.  The reporters here turn results
into pytest's summary line, the per-case failure text, TAP lines and JUnit XML.  They are
pure functions of the results: running a case is the runner's business (runner.py).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

PASS, FAIL, XFAIL, XPASS, SKIP, ERROR = "PASS", "FAIL", "XFAIL", "XPASS", "SKIP", "ERROR"
FAILING = (FAIL, XPASS, ERROR)


@dataclass
class CaseResult:
    path: str
    name: str | None  # None: the file's top level
    status: str
    message: str = ""
    duration: float = 0.0
    line: int = 1
    output: list[str] = field(default_factory=list)
    crashed: bool = False  # ended with a runtime/internal error (not an assertion/expectation)
    fault: str = ""  # the fail_dump of the first injected failure, if any

    @property
    def id(self) -> str:
        return self.path if self.name is None else f"{self.path}::{self.name}"


@dataclass
class FileResult:
    path: str
    cases: list[CaseResult]
    stdout: list[str] = field(default_factory=list)
    exit_status: int = 0
    injected: int = 0
    updated: list[str] = field(default_factory=list)
    unreadable: bool = False  # the file could not be read: the run exits with status 2
    duration: float = 0.0  # wall-clock seconds of the whole file


# ---------------------------------------------------------------------------- reporting
def summary_line(cases: Sequence[CaseResult]) -> str:
    """pytest's words and order: passed, failed, then skipped/xfailed/xpassed/errors if any."""
    n = {s: 0 for s in (PASS, FAIL, SKIP, XFAIL, XPASS, ERROR)}
    for c in cases:
        n[c.status] += 1
    parts = [f"{n[PASS]} passed", f"{n[FAIL]} failed"]
    for st, word in ((SKIP, "skipped"), (XFAIL, "xfailed"), (XPASS, "xpassed"), (ERROR, "error")):
        if n[st]:
            parts.append(f"{n[st]} {word}{'s' if st == ERROR and n[st] != 1 else ''}")
    return ", ".join(parts)


def format_case(c: CaseResult) -> list[str]:
    head = f"{c.status} {c.id}"
    if c.status in (SKIP, XFAIL) and c.message:
        reason = c.message.split("\n", 1)[0]
        head += f" ({reason})"
    lines = [head]
    if c.status in FAILING and c.message:
        lines += ["    " + ln if ln else "" for ln in c.message.split("\n")]
    return lines


def _xml_safe(s: str) -> str:
    return re.sub(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", "?", s)


def junit_xml(files: Sequence[FileResult], cases: Sequence[CaseResult]) -> str:
    """JUnit XML: one <testsuite> per file, one <testcase> per case."""
    wanted = {id(c) for c in cases}
    root = ET.Element("testsuites", name="kmscript")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for fr in files:
        fcases = [c for c in fr.cases if id(c) in wanted]
        if not fcases:
            continue
        suite = ET.SubElement(root, "testsuite", name=fr.path)
        errors = sum((c.status == FAIL and c.crashed) or c.status == ERROR for c in fcases)
        counts = {"tests": len(fcases), "failures": sum(c.status in FAILING for c in fcases) - errors,
                  "errors": errors, "skipped": sum(c.status in (SKIP, XFAIL) for c in fcases)}
        t = sum(c.duration for c in fcases)
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", f"{t:.6f}")
        total_time += t
        classname = re.sub(r"\.kms$", "", fr.path).replace(os.sep, ".").replace("/", ".")
        for c in fcases:
            tc = ET.SubElement(suite, "testcase", classname=classname, name=c.name if c.name is not None else
                               Path(fr.path).name, file=fr.path, line=str(c.line), time=f"{c.duration:.6f}")
            if c.status in FAILING:
                first = c.message.split("\n", 1)[0] if c.message else c.status
                # A runtime or internal error is a JUnit <error>; a failed expectation a <failure>.
                tag = "error" if (c.status == FAIL and c.crashed) or c.status == ERROR else "failure"
                el = ET.SubElement(tc, tag, message=_xml_safe(first), type=c.status)
                el.text = _xml_safe(c.message)
            elif c.status in (SKIP, XFAIL):
                el = ET.SubElement(tc, "skipped", message=_xml_safe(
                    (("xfail: " if c.status == XFAIL else "") + c.message.split("\n", 1)[0])))
            if c.output:
                so = ET.SubElement(tc, "system-out")
                so.text = _xml_safe("\n".join(c.output))
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{total_time:.6f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def tap_lines(c: CaseResult, n: int) -> list[str]:
    """One TAP 13 test line (with a YAML diagnostic block for failures)."""
    desc = c.id.replace("#", "\\#")
    if c.status == PASS:
        return [f"ok {n} - {desc}"]
    if c.status == SKIP:
        return [f"ok {n} - {desc} # SKIP {c.message.splitlines()[0] if c.message else ''}".rstrip()]
    if c.status == XFAIL:
        return [f"not ok {n} - {desc} # TODO {c.message.splitlines()[0] if c.message else 'xfail'}"]
    severity = {XPASS: "xpass", ERROR: "error"}.get(c.status, "fail")
    lines = [f"not ok {n} - {desc}", "  ---", f"  severity: {severity}",
             "  message: |"]
    lines += ["    " + ln for ln in (c.message or c.status).split("\n")]
    lines.append("  ...")
    return lines


# ---------------------------------------------------------------------------- fail-nth
