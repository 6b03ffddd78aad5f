"""Meta-commands (``:help``, ``:undo`` ...) from one registry, and the ``:help`` pages.

Each command is registered once with ``@command``; ``:help`` lists them from the registry,
the completer offers them from it, and the REPL dispatches through it.

``:help TOPIC`` pages are generated: a built-in's topic is its signature and its doc (the
kernel meaning) from the built-in registry, a view's is ``show NAME args``, a method's is
``type.name(...)``, a flag's is its value, a keyword's is the statement form it starts.
Only the statement forms are written here (the grammar has no prose); every name list
comes from :mod:`kmscript.lang.vocabulary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..errors import did_you_mean
from ..lang import vocabulary
from .display import Printer, doc_summary


class Repl(Protocol):
    """What a meta-command uses of the REPL (app.Repl provides it).  A protocol rather
    than an import of app.py, which imports this module: no import cycle."""

    session: Any
    printer: Printer
    last_explained: list[Any] | None  # the last entry's decision records (:explain)

    def reset(self) -> None: ...
    def undo(self) -> None: ...
    def load_file(self, path: str) -> None: ...
    def save_file(self, path: str) -> None: ...
    def machine_summary(self) -> str: ...


@dataclass(frozen=True)
class MetaCommand:
    name: str
    args: str
    doc: str
    run: Callable[["Repl", str], bool | None]  # True ends the REPL
    aliases: tuple[str, ...] = ()
    arg_kind: str = ""  # "" | path | topic | onoff (what the completer offers)


COMMANDS: dict[str, MetaCommand] = {}
_ALIASES: dict[str, str] = {}


def command(name: str, args: str = "", *, doc: str, aliases: tuple[str, ...] = (),
            arg_kind: str = "") -> Callable[[Callable[["Repl", str], bool | None]],
                                            Callable[["Repl", str], bool | None]]:
    def deco(fn: Callable[["Repl", str], bool | None]) -> Callable[["Repl", str], bool | None]:
        COMMANDS[name] = MetaCommand(name, args, doc, fn, aliases, arg_kind)
        for a in aliases:
            _ALIASES[a] = name
        return fn
    return deco


def lookup(name: str) -> MetaCommand | None:
    return COMMANDS.get(_ALIASES.get(name, name))


def dispatch(repl: "Repl", line: str) -> bool:
    """Run ``:name args``; returns True when the REPL should end."""
    name, _, arg = line.strip()[1:].partition(" ")
    cmd = lookup(name)
    if cmd is None:
        hint = did_you_mean(name, COMMANDS) if name else ""
        repl.printer.line(f"unknown command ':{name}'{hint}; :help lists the commands", "error")
        return False
    return bool(cmd.run(repl, arg.strip()))


# ------------------------------------------------------------------------ the commands
@command("help", "[topic]", arg_kind="topic", aliases=("h", "?"),
         doc="Show help: the commands, the language, or one built-in, view, flag or keyword.")
def _help(repl: "Repl", arg: str) -> None:
    repl.printer.long_text(help_text(arg))


@command("reset", doc="Discard the machine and all variables (the next statement boots a fresh machine).")
def _reset(repl: "Repl", arg: str) -> None:
    repl.reset()
    repl.printer.line("machine and variables reset", "note")


@command("load", "FILE", arg_kind="path", doc="Run a script file in this session (its state stays).")
def _load(repl: "Repl", arg: str) -> None:
    if not arg:
        repl.printer.line(":load needs a file name", "error")
        return
    repl.load_file(arg)


@command("save", "FILE", arg_kind="path",
         doc="Write the statements that ran successfully in this session as a script (a regression scenario).")
def _save(repl: "Repl", arg: str) -> None:
    if not arg:
        repl.printer.line(":save needs a file name", "error")
        return
    repl.save_file(arg)


@command("undo", doc="Restore the machine and the variables to before the last entry.")
def _undo(repl: "Repl", arg: str) -> None:
    repl.undo()


@command("trace", "on|off", arg_kind="onoff", doc="Print kernel tracepoint events as they happen (on) or not (off).")
def _trace(repl: "Repl", arg: str) -> None:
    if arg not in ("on", "off", ""):
        repl.printer.line(":trace takes on or off", "error")
        return
    on = (not repl.session.trace) if arg == "" else arg == "on"
    repl.session.set_trace(on)
    repl.printer.line(f"tracing {'on' if on else 'off'}", "note")


@command("explain", doc="Why each allocation and free of the last entry took its path (the decision tree).")
def _explain(repl: "Repl", arg: str) -> None:
    records = repl.last_explained
    if records is None:
        repl.printer.line("the last entry was not recorded (it loops at top level, and recording every "
                          "allocation of a loop is slow): run `explain STATEMENT` instead", "note")
        return
    if not records:
        repl.printer.line("nothing to explain: no statement has run yet", "note")
        return
    repl.printer.long_text("\n".join(e.render() for e in records))


@command("machine", doc="Summary of the current machine: configuration, zones, slab, vmalloc, tasks.")
def _machine(repl: "Repl", arg: str) -> None:
    repl.printer.long_text(repl.machine_summary())


@command("quit", aliases=("q", "exit"), doc="Leave the REPL (Ctrl-D does the same).")
def _quit(repl: "Repl", arg: str) -> bool:
    return True


# ------------------------------------------------------------------------ help pages
# The statement forms each keyword starts (the grammar has the syntax, not the prose).
KEYWORD_HELP: dict[str, str] = {
    "if": "if COND { ... } elif COND { ... } else { ... }",
    "elif": "if COND { ... } elif COND { ... } else { ... }",
    "else": "if COND { ... } elif COND { ... } else { ... }",
    "repeat": "repeat N { ... }          run the block N times",
    "for": "for i in A..B { ... }     i from A to B-1;  for x in LIST { ... }",
    "in": "for x in LIST { ... };  x in LIST (membership)",
    "while": "while COND { ... }",
    "break": "break                      leave the innermost loop",
    "continue": "continue                   next iteration of the innermost loop",
    "fn": "fn name(a, b=1) { return a + b }",
    "return": "return [EXPR]              leave the function",
    "assert": 'assert COND[, "message"]   fail the script (exit 1) when COND is false',
    "explain": "explain STATEMENT          run it and show why each allocation and free took its path",
    "expect": 'expect KIND ["text"] { ... }   the block must log an event of KIND (oom, bug, warn, '
              'alloc_fail, panic, fault), containing "text" if given',
    "show": "show VIEW [args]           print a /proc-style view (:help views lists them)",
    "include": 'include "file.kms"         run another script here',
    "cache": "cache NAME = create(size=..., align=...)   a kmem_cache bound to NAME",
    "task": "task NAME = spawn(...)     a process bound to NAME",
    "file": "file NAME = open(...)      a file bound to NAME",
    "percpu": "percpu NAME [= INIT];  percpu NAME++;  percpu NAME += N   (a DEFINE_PER_CPU variable, "
              "this_cpu_add on the current CPU)",
    "sysctl": "sysctl vm.NAME = VALUE     write a sysctl (/proc/sys/vm/NAME)",
    "cpu": "cpu N < ... >              run the statements on CPU N",
    "irq": "irq [N] < ... >            run the statements in hard-IRQ context (atomic) on CPU N",
    "fail": "fail KIND opt=value ...    fault injection (failslab, fail_page_alloc)",
    "test": 'test "name" { ... }        a test case, run in a fresh machine by kmscript FILE',
    "and": "A and B  (also &&)", "or": "A or B  (also ||)", "not": "not A  (also !)",
    "contains": 'TEXT contains "s"          substring test (dmesg contains "Out of memory")',
    "true": "the boolean true", "false": "the boolean false", "NULL": "the null pointer",
}

LANGUAGE = """\
kmscript: script how Linux manages physical memory.

  x = kmalloc(50, GFP_ATOMIC)        statements end with a newline or ';'
  p = alloc_pages(GFP_KERNEL, 3)     numbers: 42 0x2a 0b101 4K 2M 1G (size suffixes)
  cache c = create(size=600, align=64)
  assert x != NULL, "allocated"      # comments run to the end of the line
  for i in 0..10 { ... }   repeat 100 { ... }   while c { ... }   if c { } elif c { } else { }
  fn f(a, b=1) { return a + b }
  cpu 2 < percpu ctx++ >             irq < y = kmalloc(64, GFP_ATOMIC) >
  expect oom { ... }                 show buddyinfo      sysctl vm.min_free_kbytes = 67584
  machine(mem=2G, cpus=4)            boot a fresh machine with these options

operators: + - * / % << >> & | ^ ~  == != < <= > >=  and or not  in  contains
keywords:  {keywords}

:help builtins    every built-in function      :help views    every show view
:help flags       GFP and SLAB flags           :help NAME     one built-in, view, flag or keyword"""


def _meta_section() -> list[str]:
    lines = ["commands:"]
    for c in COMMANDS.values():
        head = f"  :{c.name}" + (f" {c.args}" if c.args else "")
        alias = f"  (also {', '.join(':' + a for a in c.aliases)})" if c.aliases else ""
        lines.append(f"{head:<22}{c.doc}{alias}")
    lines += ["", "keys: Enter runs a complete statement (an open {, (, [ or cpu N < continues it);",
              "      Esc Enter runs as is; Tab completes; Ctrl-R searches history; Ctrl-C cancels",
              "      the input or interrupts a running loop; Ctrl-D leaves.",
              "", ":help language for the language; :help NAME for a built-in, view, flag or keyword."]
    return lines


def help_topics() -> list[str]:
    """Every topic ``:help`` knows (the completer offers them)."""
    topics = ["language", "builtins", "views", "flags", "keywords"]
    topics += sorted(vocabulary.builtins())
    topics += sorted(vocabulary.views())
    topics += sorted(f"{o}.{n}" for o, n in vocabulary.methods())
    topics += sorted(vocabulary.values())
    topics += sorted(vocabulary.constants())
    topics += list(vocabulary.keywords())
    topics += sorted({b.category for b in vocabulary.builtins().values()})
    topics += [":" + c for c in COMMANDS]
    seen: set[str] = set()
    return [t for t in topics if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]


def _entry(sig: str, doc: str) -> str:
    doc = doc.strip() or "(no description)"
    return f"{sig}\n" + "\n".join("    " + ln for ln in doc.split("\n"))


def help_text(topic: str) -> str:
    topic = topic.strip()
    if not topic:
        return "\n".join(["kmscript REPL", ""] + _meta_section())
    if topic in ("language", "syntax"):
        return LANGUAGE.replace("{keywords}", " ".join(vocabulary.keywords()))
    if topic == "builtins":
        by_cat: dict[str, list[str]] = {}
        for b in vocabulary.builtins().values():
            by_cat.setdefault(b.category, []).append(_row(b.signature(), b.doc))
        out: list[str] = []
        for cat in sorted(by_cat):
            out += [f"{cat}:"] + sorted(by_cat[cat]) + [""]
        vals = vocabulary.values()
        if vals:
            out += ["values:"] + [_row(v.name, v.doc) for v in vals.values()]
        return "\n".join(out).rstrip()
    if topic == "views":
        return "\n".join(_row(v.signature(), v.doc, 34) for v in vocabulary.views().values()) \
            or "(no views registered)"
    if topic == "flags":
        consts = vocabulary.constants()
        gfp = [f"  {n:<28} 0x{consts[n]:x}" for n in vocabulary.gfp_flags() if isinstance(consts[n], int)]
        slab = [f"  {n:<28} 0x{consts[n]:x}" for n in vocabulary.slab_flags() if isinstance(consts[n], int)]
        return "\n".join(["GFP flags (include/linux/gfp_types.h):"] + gfp + ["", "SLAB flags (include/linux/slab.h):"]
                         + slab)
    if topic == "keywords":
        return "\n".join(f"  {k:<10} {KEYWORD_HELP.get(k, '')}" for k in vocabulary.keywords())
    if topic.startswith(":"):
        c = lookup(topic[1:])
        if c is not None:
            return _entry(f":{c.name}" + (f" {c.args}" if c.args else ""), c.doc)
    parts: list[str] = []
    fn = vocabulary.builtins().get(topic)
    if fn is not None:
        parts.append(_entry(fn.signature(), fn.doc) + f"\n    [{fn.category}]")
    v = vocabulary.views().get(topic.removeprefix("show ").strip())
    if v is not None:
        parts.append(_entry(v.signature(), v.doc))
    if "." in topic:
        owner, _, mname = topic.partition(".")
        m = vocabulary.methods().get((owner, mname))
        if m is not None:
            parts.append(_entry(m.signature(), m.doc))
    else:
        for (owner, mname), meth in sorted(vocabulary.methods().items()):
            if mname == topic:
                parts.append(_entry(meth.signature(), meth.doc))
    val = vocabulary.values().get(topic)
    if val is not None:
        parts.append(_entry(val.name + "  (value)", val.doc))
    consts = vocabulary.constants()
    if topic in consts:
        cval = consts[topic]
        kind = "GFP flag" if topic in vocabulary.gfp_flags() else "SLAB flag" if topic in vocabulary.slab_flags() \
            else "constant"
        shown = f"0x{cval:x} ({cval})" if isinstance(cval, int) and not isinstance(cval, bool) else str(cval)
        parts.append(f"{topic}  {kind} = {shown}")
    if topic in vocabulary.keywords():
        parts.append(f"{topic}  (keyword)\n    {KEYWORD_HELP.get(topic, 'see :help language')}")
    in_category = [bb for bb in vocabulary.builtins().values() if bb.category == topic]
    if in_category:
        parts.append(f"built-ins in '{topic}':\n"
                     + "\n".join(_row(bb.signature(), bb.doc) for bb in in_category))
    if parts:
        return "\n\n".join(parts)
    return f"no help for '{topic}'{did_you_mean(topic, help_topics())}; :help lists the topics"


def _row(sig: str, doc: str, col: int = 44) -> str:
    """One listing line: the signature, then the doc's first line in a column (a long
    signature gets a line of its own)."""
    if len(sig) > col:
        return f"  {sig}\n  {'':<{col}} {_first(doc)}"
    return f"  {sig:<{col}} {_first(doc)}"


def _first(doc: str, width: int = 72) -> str:
    return doc_summary(doc, width)


def all_commands() -> dict[str, Any]:
    return dict(COMMANDS)
