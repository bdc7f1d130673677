#!/usr/bin/env python3
"""Data-driven S3 Select tests: run every case of tests/select/*.test
through the engine's CLI and compare stdout (or the S3 error code).

A file holds blocks that start with "=== name".  Block lines:
  sql: SELECT ...            the expression (one line)
  args: --header ...         extra CLI arguments (shell words)
  in: {"CSV":{...}}          --input-serialization
  out: {"JSON":{}}           --output-serialization
  file: name.ext             name of the input file (default data.csv)
  compress: gzip|bzip2       compress the input first
  cut: N                     drop the last N bytes of the (compressed)
                             object, to test truncated input
  fixture: NAME              the object is tests/select/parquet/NAME (a
                             binary file; no input section)
  poke: OFFSET HEX           overwrite bytes at OFFSET (negative: from the
                             end) with the hex bytes, to test damaged input
  repeat: N                  the object is the input section N times over
                             (an object larger than one read, from a
                             short case)
Sections (a line "--- NAME [flags]"; flags: escaped = Python escapes,
noeol = no newline after the last line):
  --- input                  the object (trailing blank lines dropped;
                             use "escaped" and \n for exact bytes)
  --- output                 expected stdout
  --- error: Code            expected failure with this S3 error code
                             (with an output section too: the records
                             written before it, exactly)
  --- exprs                  one case per line: EXPR => EXPECTED, run as
                             SELECT EXPR FROM S3Object s; EXPECTED is the
                             CSV output line, or !Code for an error.
Every case also runs a second and a third time with "--threads 2" and
chunks of 1 and 16 bytes, so that whatever input qualifies for a parallel
run (uncompressed, no scan range, no LIMIT) is cut at every byte offset:
the result must be the same bytes (or the same error) as the sequential
run's.
Prints a unified diff for every failing case and ends with
"N passed, N failed"; exits 1 when anything failed.
"""
import bz2
import difflib
import gzip
import os
import shlex
import subprocess
import sys
import tempfile


def decode(lines, flags, strip=True):
    lines = list(lines)
    while strip and lines and not lines[-1].strip():
        lines.pop()  # blank lines before the next block separate cases
    text = "\n".join(lines)
    if "noeol" not in flags and lines:
        text += "\n"
    if "escaped" in flags:
        text = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    return text.encode("utf-8", "surrogateescape")


def parse(path):
    cases, cur, sec = [], None, None
    with open(path, encoding="utf-8") as f:
        for no, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith("=== "):
                cur = {"name": f"{os.path.basename(path)}:{no}: {line[4:]}",
                       "args": [], "sections": {}, "file": "data.csv"}
                cases.append(cur)
                sec = None
                continue
            if cur is None:
                continue
            if line.startswith("--- "):
                head = line[4:].split()
                if head[0] == "error:":
                    cur["error"] = head[1]
                    sec = None
                    continue
                sec = (head[0], tuple(head[1:]))
                cur["sections"][sec[0]] = (sec[1], [], no)
                continue
            if sec is not None:
                cur["sections"][sec[0]][1].append(line)
                continue
            if not line.strip() or line.startswith("#"):
                continue
            key, _, val = line.partition(": ")
            if key == "sql":
                cur["sql"] = val
            elif key == "args":
                cur["args"] += shlex.split(val)
            elif key == "in":
                cur["args"] += ["--input-serialization", val]
            elif key == "out":
                cur["args"] += ["--output-serialization", val]
            elif key in ("file", "compress", "cut", "fixture", "poke",
                         "repeat"):
                cur[key] = val
            else:
                raise SystemExit(f"{path}:{no}: unknown line {line!r}")
    return cases


PARALLEL = [[], ["--threads", "2", "--chunk-size", "1"],
            ["--threads", "2", "--chunk-size", "16"]]


def run(binary, tmp, case, sql, extra):
    data = b""
    if case.get("fixture"):
        with open(os.path.join(ROOT, "parquet", case["fixture"]), "rb") as f:
            data = f.read()
    if "input" in case["sections"]:
        flags, lines, _ = case["sections"]["input"]
        data = decode(lines, flags)
    if case.get("repeat"):
        data *= int(case["repeat"])
    if case.get("compress") == "gzip":
        data = gzip.compress(data)
    elif case.get("compress") == "bzip2":
        data = bz2.compress(data)
    if case.get("cut"):
        data = data[:max(0, len(data) - int(case["cut"]))]
    if case.get("poke"):
        off, hexbytes = case["poke"].split()
        off, new = int(off), bytes.fromhex(hexbytes)
        off = off if off >= 0 else len(data) + off
        data = data[:off] + new + data[off + len(new):]
    path = os.path.join(tmp, case["file"])
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run([binary, path, sql] + case["args"] + extra,
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def check(name, rc, out, err, want_out, want_err):
    if want_err is not None:
        first = err.splitlines()[0] if err else ""
        # With an output section too: what came out before the error.
        if rc == 1 and first.startswith(want_err + ":") and \
                (want_out is None or out == want_out):
            return True
        print(f"FAIL {name}\n  expected error {want_err}, got exit {rc}:"
              f" {first or '(no stderr)'}\n  stdout: {out[:300]!r}")
        return False
    if rc == 0 and out == want_out:
        return True
    print(f"FAIL {name} (exit {rc})")
    if err:
        print("  stderr: " + err.strip().replace("\n", "\n          "))
    diff = difflib.unified_diff(
        want_out.decode("utf-8", "replace").splitlines(),
        out.decode("utf-8", "replace").splitlines(),
        "expected", "actual", lineterm="")
    for d in diff:
        print("  " + d)
    return False


def expand(case):
    """A case, or one case per line of its exprs section."""
    if "exprs" not in case["sections"]:
        want = None
        if "output" in case["sections"]:
            flags, lines, _ = case["sections"]["output"]
            want = decode(lines, flags)
        err = case.get("error")
        yield case["name"], case["sql"], \
            want if want is not None or err else b"", err
        return
    flags, lines, start = case["sections"]["exprs"]
    for i, line in enumerate(lines):
        if not line.strip() or line.startswith("#"):
            continue
        expr, _, exp = line.partition(" => ")
        name = f"{case['name']} [line {start + i + 1}: {expr}]"
        sql = f"SELECT {expr} FROM S3Object s"
        if exp.startswith("!"):
            yield name, sql, None, exp[1:].strip()
        else:
            yield name, sql, decode([exp], flags, False), None


ROOT = os.path.dirname(os.path.abspath(__file__))


def main():
    global ROOT
    binary, root = sys.argv[1], sys.argv[2]
    ROOT = root
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fn in sorted(os.listdir(root)):
            if not fn.endswith(".test"):
                continue
            for case in parse(os.path.join(root, fn)):
                for name, sql, want, want_err in expand(case):
                    for extra in PARALLEL:
                        label = name + (f" {extra}" if extra else "")
                        rc, out, err = run(binary, tmp, case, sql, extra)
                        if check(label, rc, out, err, want, want_err):
                            passed += 1
                        else:
                            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
