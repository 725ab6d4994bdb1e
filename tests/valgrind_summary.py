"""Count memcheck errors in valgrind logs, split into convcore's own and the
rest (CPython, NumPy, glibc: noise for this purpose).

    python tests/valgrind_summary.py vg.*.log

An error is convcore's when any frame of its stack is in convcore's code:
a source path with ``convcore/_`` in it (valgrind ``--fullpath-after=``), a
Cython-generated function of a convcore module (``__pyx_..._8convcore_...``),
a C kernel (``cc_...``), or a convcore source file by name. Prints the first
stack of each convcore error kind; exits 1 when there is any.
"""
import re
import sys
from collections import Counter

ERROR_START = re.compile(
    r"(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|"
    r"Mismatched free|Source and destination overlap|Argument .* of function)")
CONVCORE_FRAME = re.compile(
    r"convcore/_|_8convcore_|: cc_\w+ \(|"
    r"\((_conv|_pool|_act|_linear|_openmp|_peak|ukernels\.inc|gemm\.inc|dispatch|"
    r"kernels-\w+)\.c:\d+\)")
LINE = re.compile(r"==\d+== ?(.*)")


def error_blocks(lines):
    """Each error of a memcheck log as its list of lines (header, frames)."""
    blocks, cur = [], None
    for raw in lines:
        m = LINE.match(raw)
        if not m:
            continue
        body = m.group(1)
        if ERROR_START.match(body):
            cur = [body]
            blocks.append(cur)
        elif not body.strip():
            cur = None
        elif cur is not None:
            cur.append(body.strip())
    return blocks


def summarize(lines):
    """(own, other): Counters of error headers, convcore's and the rest."""
    own, other = Counter(), Counter()
    first = {}
    for b in error_blocks(lines):
        if any(CONVCORE_FRAME.search(f) for f in b[1:]):
            own[b[0]] += 1
            first.setdefault(b[0], b)
        else:
            other[b[0]] += 1
    return own, other, first


def main(paths):
    lines = []
    for p in paths:
        with open(p, errors="replace") as f:
            lines += f.read().splitlines()
    own, other, first = summarize(lines)
    print(f"memcheck error contexts (distinct stacks) in convcore's code: {sum(own.values())}; "
          f"elsewhere (CPython, NumPy, libc): {sum(other.values())}")
    for head, n in other.most_common():
        print(f"  other  {n:5d}  {head}")
    for head, n in own.most_common():
        print(f"  OWN    {n:5d}  {head}")
        print("\n".join("           " + f for f in first[head][1:16]))
    return 1 if own else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
