"""Completion from the one vocabulary plus the session's live names.

What is offered depends on where the cursor is:

- after ``show ``: the views (``show NAME args``); after the view name, what fits its
  parameter (cache names for ``show slab``, zones for ``show memmap``, task variables)
- after ``sysctl ``: the machine's sysctl names (dotted, ``vm.min_free_kbytes``)
- after ``expect ``: the event kinds; after ``percpu ``: defined per-cpu variables
- after ``name.``: the attributes in the handle's ``KMS_ATTRS`` (with their current
  value) and the methods registered for its ``KMS_TYPE`` (with their signatures)
- inside ``builtin(``: first what fits the parameter at the cursor (per-cpu variables for
  ``var``, caches for ``cache``, zones for ``zone``, variables holding the parameter's
  handle type, GFP flags for ``gfp``), then its parameter names as ``name=``
  (``machine(`` offers the MachineConfig options), then everything else
- a line starting with ``:``: meta-commands and their arguments
- otherwise: variables, keywords, built-ins (the signature is the menu's meta text),
  values, GFP and SLAB flags and the other constants

Matching is fuzzy: a prefix match ranks first, then a substring, then a subsequence
(``gfpat`` finds ``GFP_ATOMIC``); case is ignored.  A completer must never break the REPL:
any exception inside ends in "no completions".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from ..lang import vocabulary
from .display import doc_summary, summary

if TYPE_CHECKING:
    from ..runtime.machine import Machine
    from ..session import Session

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_ATTR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\.$")
_SHOW_VIEW = re.compile(r"(?:^|[\s;{<])show\s+$")
_SHOW_ARG = re.compile(r"(?:^|[\s;{<])show\s+([A-Za-z_][A-Za-z0-9_]*)\s+(?:[^\n;]*[\s,])?$")
_SYSCTL = re.compile(r"(?:^|[\s;{<])sysctl\s+([A-Za-z0-9_.]*)$")
_EXPECT = re.compile(r"(?:^|[\s;{<])expect\s+$")
_PERCPU = re.compile(r"(?:^|[\s;{<])percpu\s+$")
_NEW_NAME = re.compile(r"(?:^|[\s;{<])(?:cache|task|file|fn|for)\s+$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\($")


def fuzzy_rank(typed: str, candidate: str) -> tuple[int, int] | None:
    """Rank of *candidate* for what was *typed* (lower is better), None if it does not match."""
    if not typed:
        return (0, 0)
    t, c = typed.lower(), candidate.lower()
    if c.startswith(t):
        return (0, len(c))
    i = c.find(t)
    if i >= 0:
        return (1, i)
    pos, spread, start = 0, 0, -1
    for ch in t:
        j = c.find(ch, pos)
        if j < 0:
            return None
        if start < 0:
            start = j
        spread += j - pos
        pos = j + 1
    return (2, spread)


class Candidate:
    __slots__ = ("text", "meta", "display")

    def __init__(self, text: str, meta: str = "", display: str | None = None) -> None:
        self.text = text
        self.meta = meta
        self.display = display


def _in_string_or_comment(line: str) -> bool:
    quote: str | None = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return True
        i += 1
    return quote is not None


def _innermost_call(text: str) -> tuple[str, int] | None:
    """(function name, index of the argument being typed) of the innermost unclosed '('
    (``kmalloc(50, `` -> ("kmalloc", 1))."""
    depth = 0
    commas = 0
    for i in range(len(text) - 1, -1, -1):
        ch = text[i]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                if ch == "[":
                    return None
                m = _CALL.search(text[: i + 1])
                return (m.group(1), commas) if m else None
            depth -= 1
        elif ch == "," and depth == 0:
            commas += 1
        elif ch in "{};\n" and depth == 0:
            return None
    return None


class KmsCompleter(Completer):
    """See the module docstring.  *get_session* returns the live Session."""

    def __init__(self, get_session: Callable[[], Session],
                 meta_commands: Callable[[], dict[str, Any]] | None = None,
                 help_topics: Callable[[], Iterable[str]] | None = None) -> None:
        self.get_session = get_session
        self.meta_commands = meta_commands
        self.help_topics = help_topics
        self.paths = PathCompleter(expanduser=True)
        self._boot_sysctls: list[str] | None = None

    # -- entry point --------------------------------------------------------------------
    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        try:
            yield from self._complete(document, complete_event)
        except Exception:
            return  # a completer must never end the REPL or print a traceback

    def _complete(self, document: Document, event: CompleteEvent) -> Iterator[Completion]:
        before = document.text_before_cursor
        line = document.current_line_before_cursor
        if line.lstrip().startswith(":"):
            yield from self._meta(line.lstrip(), document, event)
            return
        if _in_string_or_comment(line):
            return
        m = _SYSCTL.search(before)
        if m:
            yield from self._rank(m.group(1), self._sysctls())
            return
        word_m = _WORD.search(before)
        word = word_m.group(0) if word_m else ""
        head = before[: len(before) - len(word)]
        if word and word[0].isdigit():
            return
        if head.endswith(".") and not head.endswith(".."):
            am = _ATTR.search(head)
            if am:
                yield from self._rank(word, self._attributes(am.group(1)))
            return
        if _SHOW_VIEW.search(head):
            yield from self._rank(word, self._views())
            return
        if _EXPECT.search(head):
            yield from self._rank(word, [Candidate(k, "event kind") for k in vocabulary.expect_kinds()])
            return
        if _PERCPU.search(head):
            yield from self._rank(word, self._percpu_vars())
            return
        if _NEW_NAME.search(head) and not _SHOW_ARG.search(head):
            return  # the user is naming something new (``cache NAME = ...``)
        cands: list[Candidate] = []
        show = _SHOW_ARG.search(head)
        if show:
            view = vocabulary.views().get(show.group(1))
            if view is not None:
                idx = head[show.end(1):].count(",")
                normal = [p for p in view.params if p.kind == "normal"]
                if idx < len(normal):
                    cands += self._for_param(normal[idx])
        call = _innermost_call(head)
        if call is not None:
            fn = vocabulary.builtins().get(call[0])
            if fn is not None:
                kw = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*$", head)
                normal = [p for p in fn.params if p.kind == "normal"]
                param = next((p for p in normal if kw and p.name == kw.group(1)), None)
                if param is None and not kw and call[1] < len(normal):
                    param = normal[call[1]]
                if param is not None:
                    cands += self._for_param(param)
                if not kw:
                    cands += self._params(fn)
        cands += self._general()
        yield from self._rank(word, cands)

    # -- ranking ------------------------------------------------------------------------
    def _rank(self, typed: str, cands: Iterable[Candidate]) -> Iterator[Completion]:
        scored: list[tuple[tuple[int, int], int, str, Candidate]] = []
        seen: set[str] = set()
        for order, c in enumerate(cands):
            if c.text in seen:
                continue
            r = fuzzy_rank(typed, c.text)
            if r is None:
                continue
            seen.add(c.text)
            # Candidates listed first (parameters, variables) win ties with later ones.
            scored.append((r, order if not typed else 0, c.text.lower(), c))
        scored.sort(key=lambda s: (s[0], s[1], s[2]))
        for _, _, _, c in scored:
            yield Completion(c.text, start_position=-len(typed), display=c.display, display_meta=c.meta)

    # -- candidate sources --------------------------------------------------------------
    def _general(self) -> list[Candidate]:
        out: list[Candidate] = []
        session = self.get_session()
        for name, v in session.interp.globals.items():
            out.append(Candidate(name, _type_of(v) + " = " + summary(v, 30)))
        for b in vocabulary.builtins().values():
            out.append(Candidate(b.name, b.signature()))
        for v in vocabulary.values().values():
            out.append(Candidate(v.name, "value: " + doc_summary(v.doc, 60)))
        for kw in vocabulary.keywords():
            out.append(Candidate(kw, "keyword"))
        consts = vocabulary.constants()
        gfp = set(vocabulary.gfp_flags())
        slab = set(vocabulary.slab_flags())
        for name, val in consts.items():
            kind = "GFP flag" if name in gfp else "SLAB flag" if name in slab else "constant"
            shown = f"0x{val:x}" if isinstance(val, int) and not isinstance(val, bool) and kind != "constant" \
                else summary(val, 20)
            out.append(Candidate(name, f"{kind} {shown}"))
        return out

    def _views(self) -> list[Candidate]:
        out = []
        for _, v in sorted(vocabulary.views().items()):
            args = " ".join(p.render() for p in v.params)
            out.append(Candidate(v.name, (f"[{args}]  " if args else "") + doc_summary(v.doc, 60)))
        return out

    def _sysctls(self) -> list[Candidate]:
        session = self.get_session()
        machine = session.machine if session.has_machine else None
        if machine is not None:
            names = vocabulary.sysctls(machine)
        else:
            if self._boot_sysctls is None:  # the vocabulary boots a small machine to ask
                self._boot_sysctls = vocabulary.sysctls(None)
            names = self._boot_sysctls
        return [Candidate(n, _sysctl_value(machine, n)) for n in names]

    def _params(self, fn: Any) -> list[Candidate]:
        """Keyword arguments of a built-in (``machine(`` offers the MachineConfig options)."""
        out = [Candidate(p.name + "=", f"{fn.name}: {p.render()}") for p in fn.params if p.kind == "normal"]
        if fn.name == "machine":
            from ..runtime.machine import MachineConfig
            out += [Candidate(o + "=", "machine option") for o in MachineConfig.option_names()]
        return out

    def _for_param(self, param: Any) -> list[Candidate]:
        """Live values that fit one parameter: per-cpu variables for ``var``, caches for
        ``cache``, zones for ``zone``, variables holding the handle type, flags for gfp."""
        session = self.get_session()
        tname = param.type.name if param.type is not None else ""
        kinds = set(tname.split("|"))
        out: list[Candidate] = []
        if "name" in kinds or "string" in kinds:
            if param.name in ("var", "name") and "name" in kinds:
                out += [Candidate(n, "per-cpu variable") for n in live_percpu_names(session)]
            if "cache" in param.name:
                out += [Candidate(n, "cache") for n in live_cache_names(session) if _IDENT.fullmatch(n)]
            if param.name in ("zone", "z"):
                out += [Candidate(n, "zone") for n in live_zone_names(session)]
        g = session.interp.globals
        handle_kinds = kinds - {"name", "string", "int", "size", "gfp", "bool", "value", "list", "pointer"}
        if handle_kinds:
            out += [Candidate(n, f"{_type_of(v)} = {summary(v, 30)}") for n, v in g.items()
                    if _type_of(v) in handle_kinds]
        if "gfp" in kinds:
            out += [Candidate(f, "GFP flag") for f in vocabulary.gfp_flags() if not f.startswith("__")]
        return out

    def _attributes(self, name: str) -> list[Candidate]:
        session = self.get_session()
        g = session.interp.globals
        if name not in g:
            return []
        obj = g[name]
        out: list[Candidate] = []
        attrs = getattr(type(obj), "KMS_ATTRS", None) or ()
        for a in sorted(attrs):
            try:
                meta = "= " + summary(getattr(obj, a), 30)
            except Exception:
                meta = "attribute"
            out.append(Candidate(a, meta))
        kms_type = getattr(type(obj), "KMS_TYPE", None)
        if kms_type:
            for (owner, mname), b in sorted(vocabulary.methods().items()):
                if owner == kms_type:
                    out.append(Candidate(mname, b.signature()))
        return out

    def _percpu_vars(self) -> list[Candidate]:
        return [Candidate(n, "per-cpu variable") for n in live_percpu_names(self.get_session())]

    def _meta(self, line: str, document: Document, event: CompleteEvent) -> Iterator[Completion]:
        commands = self.meta_commands() if self.meta_commands else {}
        if " " not in line:
            typed = line[1:]
            cands = [Candidate(":" + name, cmd.doc.split("\n")[0], None) for name, cmd in commands.items()]
            for c in self._rank(typed, [Candidate(c.text[1:], c.meta) for c in cands]):
                yield Completion(":" + c.text, start_position=-len(typed) - 1, display=":" + c.text,
                                 display_meta=c.display_meta)
            return
        name, _, arg = line[1:].partition(" ")
        cmd = commands.get(name)
        if cmd is None:
            return
        if cmd.arg_kind == "path":
            sub = Document(arg.lstrip(), len(arg.lstrip()))
            yield from self.paths.get_completions(sub, event)
        elif cmd.arg_kind == "topic" and self.help_topics is not None:
            typed = arg.lstrip()
            yield from self._rank(typed, [Candidate(t, "help topic") for t in self.help_topics()])
        elif cmd.arg_kind == "onoff":
            yield from self._rank(arg.lstrip(), [Candidate("on"), Candidate("off")])


def _sysctl_value(machine: Machine | None, name: str) -> str:
    if machine is None:
        return "sysctl"
    try:
        return "sysctl = " + summary(machine.sysctls.get(name), 30)
    except Exception:
        return "sysctl"


def _type_of(v: Any) -> str:
    from ..lang.values import type_name
    return type_name(v)


# -- live names from the machine ----------------------------------------------------------
def _machine_or_none(session: Session) -> Machine | None:
    return session.machine if session.has_machine else None


def live_cache_names(session: Session) -> list[str]:
    m = _machine_or_none(session)
    return sorted({c.name for c in m.slab.caches}) if m is not None else []


def live_zone_names(session: Session) -> list[str]:
    m = _machine_or_none(session)
    return [z.name for z in m.page_alloc.zones if z.managed_pages] if m is not None else []


def live_percpu_names(session: Session) -> list[str]:
    m = _machine_or_none(session)
    return m.percpu.var_names() if m is not None else []
