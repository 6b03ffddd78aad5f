"""mm/slub.c's debugging half: SLAB_CONSISTENCY_CHECKS, RED_ZONE, POISON, STORE_USER.

What it models: the object layout of a debug cache (left red zone, poison bytes, right
red zone, free pointer, struct track, padding), the checks of check_object,
check_bytes_and_report, check_pad_bytes, on_freelist and slab_pad_check, and the reports
they print in the kernel's own words (slab_bug, slab_err, object_err, print_trailer,
slab_fix), with the kernel's byte values.

Invariant: a check that finds corruption reports it, fixes the bytes back (slab_fix) and
counts an error; it never raises into the caller.
"""

from __future__ import annotations

from .bug_sites import OBJECT_ERR_WARN, SLAB_ERR_WARN
from .mm_types import PAGE_SIZE
from .slab_geometry import (SLAB_CONSISTENCY_CHECKS, SLAB_KMALLOC, SLAB_POISON, SLAB_RED_ZONE,
                            SLAB_STORE_USER, SLAB_TRACE, OBJECT_POISON)
from .slab_types import (POISON_INUSE, POISON_FREE, POISON_END, SLUB_RED_INACTIVE, SLUB_RED_ACTIVE,
                         SLAB_NOLIST, SLAB_CPU, SLAB_FULL, Slab, KmemCache)
from .slab_common import SlabCommon


class SlubDebug(SlabCommon):
    """Debug-cache layout, consistency checks and reports (mm/slub.c, CONFIG_SLUB_DEBUG)."""

    # ============================================================================ debug: layout
    def _setup_slab_debug(self, s: KmemCache, slab: Slab) -> None:
        """setup_slab_debug + setup_object_debug: POISON_INUSE over the slab, then each object."""
        phys = self.phys
        if phys is None:
            return
        if s.flags & SLAB_POISON:
            phys.fill(slab.base - self.page_offset, PAGE_SIZE << slab.order, POISON_INUSE)
        if s.flags & (SLAB_STORE_USER | SLAB_RED_ZONE | OBJECT_POISON):
            for obj in slab.object_addrs():
                self._init_object(s, obj, SLUB_RED_INACTIVE)
        fl = slab.freelist
        for i, obj in enumerate(fl):
            self._set_freepointer(s, obj, fl[i - 1] if i else 0)

    def _set_freepointer(self, s: KmemCache, obj: int, nxt: int) -> None:
        if self.phys is not None:
            self.phys.write(obj - self.page_offset + s.offset, nxt.to_bytes(self.arch.pointer_size, "little"))

    def _get_freepointer(self, s: KmemCache, obj: int) -> int:
        if self.phys is None:
            return 0
        return int.from_bytes(self.phys.read(obj - self.page_offset + s.offset, self.arch.pointer_size), "little")

    def _init_object(self, s: KmemCache, obj: int, val: int) -> None:
        """mm/slub.c: init_object."""
        phys = self.phys
        if phys is None:
            return
        p = obj - self.page_offset
        poison_size = s.object_size
        if s.flags & SLAB_RED_ZONE:
            phys.fill(p - s.red_left_pad, s.red_left_pad, val)
            if s.keeps_orig_size and val == SLUB_RED_ACTIVE:
                poison_size = s.orig_size.get(obj, s.object_size)
        if s.flags & OBJECT_POISON:
            if poison_size > 1:
                phys.fill(p, poison_size - 1, POISON_FREE)
            if poison_size >= 1:
                phys.fill(p + poison_size - 1, 1, POISON_END)
        if s.flags & SLAB_RED_ZONE and s.inuse > poison_size:
            phys.fill(p + poison_size, s.inuse - poison_size, val)

    def _check_valid_pointer(self, s: KmemCache, slab: Slab, obj: int) -> bool:
        if obj == 0:
            return True
        base = slab.base
        if obj < base or obj >= base + slab.objects * s.size:
            return False
        return (obj - base - s.red_left_pad) % s.size == 0

    def _info_end(self, s: KmemCache) -> int:
        # mm/slub.c: get_info_end: a free pointer stored past the object adds sizeof(void *)
        return s.inuse + self.arch.pointer_size if s.offset >= s.inuse else s.inuse

    def _pad_start(self, s: KmemCache) -> int:
        off = self._info_end(s)
        if s.flags & SLAB_STORE_USER:
            off += 2 * self.arch.sizeof_track
            if s.flags & SLAB_KMALLOC:
                off += 4
        return off

    # ============================================================================ debug: reports
    def _slab_bug_lines(self, s: KmemCache | None, reason: str) -> list[str]:
        return ["=============================================================================",
                f"BUG {s.name if s else '<unknown>'} ({self.tainted()}): {reason}",
                "-----------------------------------------------------------------------------",
                ""]

    def _slab_info_line(self, slab: Slab) -> str:
        s = slab.cache
        zone = 0 if slab.pfn < 4096 else 1 if slab.pfn < (1 << 20) else 2
        pflags = (zone << 56) | (0x40 if slab.order else 0)
        names = ("head|" if slab.order else "") + f"node=0|zone={zone}"
        if slab.where == SLAB_CPU:
            c = s.cpu_slab[slab.cpu]
            fp = c.freelist[-1] if c.freelist else 0
            used = slab.objects - len(c.freelist) - len(slab.freelist)
        else:
            fp = slab.freelist[-1] if slab.freelist else 0
            used = slab.inuse
        return (f"Slab 0x{self.arch.pfn_to_struct_page(slab.pfn):0{self.arch.ptr_digits}x} objects={slab.objects} used={used} "
                f"fp=0x{fp:0{self.arch.ptr_digits}x} flags=0x{pflags:x}({names})")

    def _tracking_lines(self, s: KmemCache, obj: int) -> list[str]:
        out: list[str] = []
        now = self.jiffies()
        tr = s.tracks.get(obj)
        if not tr:
            return out
        for label, t in zip(("Allocated", "Freed"), tr):
            if t is None:
                continue
            where, cpu, pid, when = t
            out.append(f"{label} in {where} age={now - when} cpu={cpu} pid={pid}")
        return out

    def _hexdump(self, text: str, addr: int, length: int) -> list[str]:
        """print_hex_dump(KERN_ERR, text, DUMP_PREFIX_ADDRESS, 16, 1, addr, length, 1)."""
        if length <= 0 or self.phys is None:
            return []
        data = self.phys.read(addr - self.page_offset, length)
        out = []
        for i in range(0, length, 16):
            chunk = data[i:i + 16]
            hexpart = " ".join(f"{b:02x}" for b in chunk)
            asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
            out.append(f"{text}{addr + i:0{self.arch.ptr_digits}x}: {hexpart:<49}{asc}")
        return out

    def _trailer_lines(self, s: KmemCache, slab: Slab, p: int) -> list[str]:
        """print_trailer."""
        lines = self._tracking_lines(s, p) if s.flags & SLAB_STORE_USER else []
        lines.append(self._slab_info_line(slab))
        lines.append(f"Object 0x{p:0{self.arch.ptr_digits}x} @offset={p - slab.base} fp=0x{self._get_freepointer(s, p):0{self.arch.ptr_digits}x}")
        lines.append("")
        if s.flags & SLAB_RED_ZONE:
            lines += self._hexdump("Redzone  ", p - s.red_left_pad, s.red_left_pad)
        elif p > slab.base + 16:
            lines += self._hexdump("Bytes b4 ", p - 16, 16)
        lines += self._hexdump("Object   ", p, min(s.object_size, PAGE_SIZE))
        if s.flags & SLAB_RED_ZONE:
            lines += self._hexdump("Redzone  ", p + s.object_size, s.inuse - s.object_size)
        off = self._pad_start(s)
        size_from_object = s.size - s.red_left_pad
        if off != size_from_object:
            lines += self._hexdump("Padding  ", p + off, size_from_object - off)
        return lines

    def _object_err_lines(self, s: KmemCache, slab: Slab, obj: int, reason: str) -> list[str]:
        """object_err: banner, trailer, taint B, WARN_ON(1)."""
        lines = self._slab_bug_lines(s, reason)
        if not self._check_valid_pointer(s, slab, obj):
            lines.append(self._slab_info_line(slab))
            lines.append(f"Invalid pointer 0x{obj:0{self.arch.ptr_digits}x}")
        else:
            lines += self._trailer_lines(s, slab, obj)
        self.ctx.add_taint("B")
        lines += self.warn_lines(OBJECT_ERR_WARN)
        self.ctx.add_taint("W")
        return lines

    def _slab_err_lines(self, slab: Slab, frames: tuple[str, ...] = ()) -> list[str]:
        """mm/slub.c: __slab_err: print_slab_info, add_taint(TAINT_BAD_PAGE), WARN_ON(1)
        (then TAINT_WARN).  ``frames``: the callers of __slab_err, innermost first."""
        lines = [self._slab_info_line(slab)]
        self.ctx.add_taint("B")
        lines += self.warn_lines(SLAB_ERR_WARN, frames=frames)
        self.ctx.add_taint("W")
        return lines

    def _slab_err(self, s: KmemCache, slab: Slab, reason: str, fix: str | None = None) -> None:
        """slab_err (+ slab_fix): the bug banner, then __slab_err; each counts as one error."""
        lines = self._slab_bug_lines(s, reason)
        lines += self._slab_err_lines(slab, ("slab_err",))
        self.errors += 1
        if fix is not None:
            lines.append(f"FIX {s.name}: {fix}")
            self.errors += 1
        self.log.printk("\n".join(lines), "bug")

    def _object_err(self, s: KmemCache, slab: Slab, obj: int, reason: str, fix: str | None = None) -> None:
        lines = self._object_err_lines(s, slab, obj, reason)
        self.errors += 1
        if fix is not None:
            lines.append(f"FIX {s.name}: {fix}")
            self.errors += 1
        self.log.printk("\n".join(lines), "bug")

    def _check_bytes(self, s: KmemCache, slab: Slab, obj: int, what: str, start: int, value: int, n: int,
                     print_obj: bool) -> bool:
        """check_bytes_and_report: [what overwritten] line, object dump (first failure), FIX."""
        if n <= 0 or self.phys is None:
            return True
        data = self.phys.read(start - self.page_offset, n)
        pattern = bytes((value,)) * n
        if data == pattern:
            return True
        first = next(i for i in range(n) if data[i] != value)
        last = max(i for i in range(n) if data[i] != value)
        fault = start + first
        end = start + last + 1
        lines = [f"[{what} overwritten] 0x{fault:0{self.arch.ptr_digits}x}-0x{end - 1:0{self.arch.ptr_digits}x} @offset={fault - slab.base}. "
                 f"First byte 0x{data[first]:x} instead of 0x{value:x}"]
        self.errors += 1
        if print_obj:
            lines += self._object_err_lines(s, slab, obj, "Object corrupt")
        self.phys.fill(fault - self.page_offset, end - fault, value)
        lines.append(f"FIX {s.name}: Restoring {what} 0x{fault:0{self.arch.ptr_digits}x}-0x{end - 1:0{self.arch.ptr_digits}x}=0x{value:x}")
        self.errors += 1
        self.log.printk("\n".join(lines), "bug")
        return False

    def _check_pad_bytes(self, s: KmemCache, slab: Slab, p: int, print_obj: bool) -> bool:
        off = self._pad_start(s)
        size_from_object = s.size - s.red_left_pad
        if off == size_from_object:
            return True
        return self._check_bytes(s, slab, p, "Object padding", p + off, POISON_INUSE,
                                 size_from_object - off, print_obj)

    def check_object(self, s: KmemCache, slab: Slab, p: int, val: int) -> bool:
        """mm/slub.c: check_object (6.18 ordering)."""
        ret = True
        endobject = p + s.object_size
        if s.flags & SLAB_RED_ZONE:
            if not self._check_bytes(s, slab, p, "Left Redzone", p - s.red_left_pad, val, s.red_left_pad, ret):
                ret = False
            if not self._check_bytes(s, slab, p, "Right Redzone", endobject, val, s.inuse - s.object_size, ret):
                ret = False
            if s.keeps_orig_size and val == SLUB_RED_ACTIVE:
                orig = s.orig_size.get(p, s.object_size)
                if s.object_size > orig and not self._check_bytes(s, slab, p, "kmalloc Redzone", p + orig, val,
                                                                  s.object_size - orig, ret):
                    ret = False
        elif (s.flags & SLAB_POISON) and s.object_size < s.inuse:
            if not self._check_bytes(s, slab, p, "Alignment padding", endobject, POISON_INUSE,
                                     s.inuse - s.object_size, ret):
                ret = False
        if s.flags & SLAB_POISON:
            if val != SLUB_RED_ACTIVE and (s.flags & OBJECT_POISON):
                if s.object_size > 1 and not self._check_bytes(s, slab, p, "Poison", p, POISON_FREE,
                                                               s.object_size - 1, ret):
                    ret = False
                if not self._check_bytes(s, slab, p, "End Poison", p + s.object_size - 1, POISON_END, 1, ret):
                    ret = False
            if not self._check_pad_bytes(s, slab, p, ret):
                ret = False
        if (s.offset >= s.inuse or val != SLUB_RED_ACTIVE) and \
                not self._check_valid_pointer(s, slab, self._get_freepointer(s, p)):
            self._object_err(s, slab, p, "Freepointer corrupt")
            self._set_freepointer(s, p, 0)
            ret = False
        return ret

    # ============================================================================ debug: alloc/free
    def _set_track(self, s: KmemCache, obj: int, idx: int, caller: str) -> None:
        tr = s.tracks.get(obj)
        if tr is None:
            tr = s.tracks[obj] = [None, None]
        tr[idx] = (caller, self.ctx.cpu, self._pid(), self.jiffies())

    def _add_full(self, s: KmemCache, slab: Slab) -> None:
        if s.flags & SLAB_STORE_USER:
            slab.where = SLAB_FULL
            s.full.add(slab)
        else:
            slab.where = SLAB_NOLIST

    def _alloc_debug_processing(self, s: KmemCache, slab: Slab, obj: int, req: int, caller: str) -> bool:
        if s.flags & SLAB_CONSISTENCY_CHECKS:
            if not self._check_object_quiet_fixup(s, slab, obj, SLUB_RED_INACTIVE):
                self._slab_fix(s, "Marking all objects used")
                return False
        if s.flags & SLAB_STORE_USER:
            self._set_track(s, obj, 0, caller)
        self._trace(s, slab, obj, True)
        if s.keeps_orig_size:
            s.orig_size[obj] = req
        self._init_object(s, obj, SLUB_RED_ACTIVE)
        return True

    def _trace(self, s: KmemCache, slab: Slab, obj: int, alloc: bool) -> None:
        """mm/slub.c: trace() for slab_debug=T (SLAB_TRACE); the stack dump is left out."""
        if not s.flags & SLAB_TRACE:
            return
        fp = slab.freelist[-1] if slab.freelist else 0
        lines = [f"TRACE {s.name} {'alloc' if alloc else 'free'} 0x{obj:0{self.arch.ptr_digits}x} inuse={slab.inuse} fp=0x{fp:0{self.arch.ptr_digits}x}"]
        if not alloc:
            lines += self._hexdump("Object ", obj, s.object_size)
        self.log.printk("\n".join(lines), "info")

    def _check_object_quiet_fixup(self, s: KmemCache, slab: Slab, obj: int, val: int) -> bool:
        return self.check_object(s, slab, obj, val)

    def _slab_fix(self, s: KmemCache, text: str) -> None:
        self.errors += 1
        self.log.printk(f"FIX {s.name}: {text}", "bug")

    def _on_freelist(self, s: KmemCache, slab: Slab) -> bool:
        """on_freelist(s, slab, NULL): walk the free pointers stored in the objects.

        The chain in memory is the truth here, as in the kernel: a corrupted pointer cuts the
        chain (the objects behind it are lost until the pointer is repaired), and the slab's
        in-use counter is corrected to what the walk found.
        """
        if not s.debug:
            return True
        fl = slab.freelist
        chain: list[int] = []
        if fl:
            obj = fl[-1]
            chain.append(obj)
            while True:
                fp = self._get_freepointer(s, obj)
                if fp == 0:
                    break
                if not self._check_valid_pointer(s, slab, fp):
                    self._object_err(s, slab, obj, "Freechain corrupt")
                    self._set_freepointer(s, obj, 0)
                    break
                if len(chain) >= slab.objects:
                    self._slab_err(s, slab, "Freelist cycle detected", "Freelist cleared")
                    slab.freelist = []
                    slab.inuse = slab.objects
                    return False
                chain.append(fp)
                obj = fp
        slab.freelist = chain[::-1]
        nr = len(chain)
        if slab.inuse != slab.objects - nr:
            self._slab_err(s, slab, f"Wrong object count. Counter is {slab.inuse} but counted were "
                                    f"{slab.objects - nr}", "Object count adjusted")
            slab.inuse = slab.objects - nr
        return True

    def _slab_pad_check(self, s: KmemCache, slab: Slab) -> bool:
        """slab_pad_check: the bytes after the last object stay POISON_INUSE (SLAB_POISON)."""
        if not s.flags & SLAB_POISON or self.phys is None:
            return True
        length = PAGE_SIZE << slab.order
        remainder = length % s.size
        if not remainder:
            return True
        pad = slab.base + length - remainder
        data = self.phys.read(pad - self.page_offset, remainder)
        bad = [i for i in range(remainder) if data[i] != POISON_INUSE]
        if not bad:
            return True
        fault = pad + bad[0]
        end = pad + bad[-1] + 1
        lines = self._slab_bug_lines(s, f"Padding overwritten. 0x{fault:0{self.arch.ptr_digits}x}-0x{end - 1:0{self.arch.ptr_digits}x} "
                                        f"@offset={fault - slab.base}")
        lines += self._hexdump("Padding ", pad, remainder)
        self.phys.fill(fault - self.page_offset, end - fault, POISON_INUSE)
        lines.append(f"FIX {s.name}: Restoring slab padding 0x{fault:0{self.arch.ptr_digits}x}-0x{end - 1:0{self.arch.ptr_digits}x}=0x{POISON_INUSE:x}")
        self.ctx.add_taint("B")
        self.errors += 2
        self.log.printk("\n".join(lines), "bug")
        return False

    def _validate_slab(self, s: KmemCache, slab: Slab) -> None:
        # check_slab ends with slab_pad_check; a padding error does not stop the validation
        self._slab_pad_check(s, slab)
        if not self._on_freelist(s, slab):
            return
        free = set(slab.freelist)
        for p in slab.object_addrs():
            val = SLUB_RED_INACTIVE if p in free else SLUB_RED_ACTIVE
            if not self.check_object(s, slab, p, val):
                break
