"""Issue 16 item 2: the notes' per-cpu module - keywords kernel code uses as names,
for_each_possible_cpu, printk with KERN_* levels and C format directives."""

from __future__ import annotations

import pytest

from kmscript.errors import KmsSyntaxError
from kmscript.lang import ast as A
from kmscript.lang.parser import parse
from kmscript.runtime.printk import KERN_LEVELS, printk_get_level, vsprintf
from tests.conftest import run_script


def ok(src: str) -> tuple[list[str], object]:
    out, err, s = run_script(src)
    assert err is None, err.render()
    return out, s


@pytest.mark.parametrize("word", ["cpu", "task", "file", "cache", "page", "order", "size", "flags"])
def test_kernel_words_work_as_names(word: str) -> None:
    out, _ = ok(f"""
{word} = 3
{word} += 1
for {word} in 0..2 {{ x = {word} }}
fn f({word}) {{ return {word} * 2 }}
print(f({word}), [{word}], x)
""")
    assert out == ["2 [1] 1"]


def test_keyword_statements_still_parse_where_they_are_unambiguous() -> None:
    assert parse("cpu 2 < x = 1 >").body[0] == A.CpuBlock(A.Num(2), A.Block((A.Assign(A.Name("x"), A.Num(1)),)))
    assert parse("cpu(1) < x = 1 >").body[0] == A.CpuBlock(A.Num(1), A.Block((A.Assign(A.Name("x"), A.Num(1)),)))
    assert parse("cache c = x").body[0] == A.Decl("cache", "c", A.Name("x"))
    assert parse("task = 1").body[0] == A.Assign(A.Name("task"), A.Num(1))
    assert parse("f(cache=1)").body[0] == A.ExprStmt(A.Call(A.Name("f"), (), (A.Keyword("cache", A.Num(1)),)))
    assert parse("cpu cpu < x = 1 >").body[0] == A.CpuBlock(A.Name("cpu"), A.Block((A.Assign(A.Name("x"), A.Num(1)),)))


def test_for_each_possible_cpu_macro_loop() -> None:
    out, _ = ok("machine(cpus=3)\nfor_each_possible_cpu(cpu) { print(cpu) }\n"
                "for c in for_each_online_cpu() { print(c * 10) }\nprint(num_possible_cpus())")
    assert out == ["0", "1", "2", "0", "10", "20", "3"]
    with pytest.raises(KmsSyntaxError, match="for_each_\\*\\(var\\) iterator macro"):
        parse("foo(x) { y = 1 }")


def test_string_literals_concatenate_and_only_kern_levels_prefix_them() -> None:
    assert parse('x = "a" "b"').body[0] == A.Assign(A.Name("x"), A.Str("ab"))
    with pytest.raises(KmsSyntaxError, match="only a KERN_\\* level"):
        parse('x = foo "a"')


def test_printk_levels_land_in_dmesg_at_that_level() -> None:
    _, s = ok(r'''
printk(KERN_INFO "CPU %d's counter: %d\n", 2, 7)
printk(KERN_ERR "bad thing %s\n", "here")
n = printk("no level %x\n", 255)
assert n == len("no level ff")
pr_warn("warned %u\n", -1)
pr_debug("never %d\n", 1)
''')
    m = s.machine  # type: ignore[attr-defined]
    info = m.log.dmesg(6)
    assert "CPU 2's counter: 7" in info and "bad thing" not in info
    assert m.log.dmesg(3).endswith("bad thing here")
    warn = m.log.dmesg(4)  # MESSAGE_LOGLEVEL_DEFAULT is 4 (KERN_WARNING)
    assert "no level ff" in warn and "warned 4294967295" in warn
    assert "never" not in m.log.dmesg()


def test_show_dmesg_level_view() -> None:
    out, _ = ok('printk(KERN_NOTICE "hello\\n")\nshow dmesg notice')
    # the record as it is logged, then the view (boot messages are KERN_INFO, not listed)
    assert len(out) == 2 and out[0] == out[1] and out[1].endswith("] hello")
    _, err, _ = run_script("show dmesg loud")
    assert err is not None and "unknown level 'loud'" in err.render()


def test_printk_format_errors_are_kms_errors() -> None:
    _, err, _ = run_script('printk(KERN_INFO "%d %d\\n", 1)')
    assert err is not None and "needs more arguments" in err.render() and ":1:" in err.render()
    # the format is shown as a C literal: the error's first line is whole, not cut at "\n"
    assert "needs more arguments" in err.render().splitlines()[0]
    _, err, _ = run_script('printk("%d\\n", "x")')
    assert err is not None and "needs an integer" in err.render()


@pytest.mark.parametrize("fmt, args, expected", [
    ("%d|%i|%u", [-5, 7, -1], "-5|7|4294967295"),
    ("%ld|%lu|%lld", [-5, -1, -1], "-5|18446744073709551615|-1"),
    ("%x|%X|%#x|%08x|%lx", [255, 255, 255, 255, -1], "ff|FF|0xff|000000ff|ffffffffffffffff"),
    ("%5d|%-5d|%+d|% d|%05d", [42, 42, 42, 42, -42], "   42|42   |+42| 42|-0042"),
    ("%s|%.2s|%-4s|%c|%%", ["abc", "abc", "ab", 65], "abc|ab|ab  |A|%"),
    ("%*d|%.*d", [4, 7, 3, 7], "   7|007"),
    ("%hhd|%hu|%zu|%o|%#o", [255, -1, 4096, 8, 8], "-1|65535|4096|10|010"),
    ("%px|%p", [0xffff888000001000, 0x10], "ffff888000001000|0000000000000010"),
])
def test_vsprintf_matches_the_kernels_conversions(fmt: str, args: list[int | str], expected: str) -> None:
    assert vsprintf(fmt, args) == expected


def test_vsprintf_long_follows_the_architecture() -> None:
    assert vsprintf("%lu|%lx|%p", [-1, -1, 0xc0000000], long_bits=32) == "4294967295|ffffffff|c0000000"


def test_printk_get_level() -> None:
    assert printk_get_level(KERN_LEVELS["KERN_INFO"] + "x") == (6, False, "x")
    assert printk_get_level(KERN_LEVELS["KERN_CONT"] + "y") == (None, True, "y")
    assert printk_get_level("plain") == (None, False, "plain")
    assert KERN_LEVELS["KERN_DEFAULT"] == "" and KERN_LEVELS["KERN_EMERG"] == "\x010"
