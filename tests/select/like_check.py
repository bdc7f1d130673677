#!/usr/bin/env python3
"""like_check.py - LIKE against an independent oracle, and its worst case.

Random values and patterns over a small alphabet (ASCII, a two-byte and a
four-byte character, and the wildcards as plain characters in values) are
evaluated by the engine, many patterns per query, and compared with
Python's re module (% is .*, _ is one character, everything else
literal).  The values are valid UTF-8, so a character is what both agree
on.  Then the shapes that made the textbook backtracking loop quadratic
(a long run of '%a' against a long run of 'a', and long literal segments)
must answer within 20 s (milliseconds when linear; the old loop took 36 s
for 63 KB segments against a 900 KB value).
usage: like_check.py SEL_RUN [SEED]
"""
import csv
import io
import random
import re
import subprocess
import sys
import tempfile

ALPHA = ["a", "b", "é", "😀", "%", "_"]
PAT = ["a", "b", "é", "😀", "%", "_", "%", "_"]
VALUES, PATTERNS, ROUNDS = 40, 40, 25


def oracle(value, pattern):
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                 for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


def run(sel_run, path, sql, timeout=120):
    p = subprocess.run([sel_run, path, sql], capture_output=True,
                       timeout=timeout)
    if p.returncode != 0:
        sys.exit(f"sel-run failed: {p.stderr.decode(errors='replace')}")
    return p.stdout.decode()


def main():
    sel_run = sys.argv[1]
    rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    bad = checked = 0
    with tempfile.TemporaryDirectory() as d:
        path = d + "/v.csv"
        for _ in range(ROUNDS):
            values = ["".join(rnd.choice(ALPHA)
                              for _ in range(rnd.randint(0, 12)))
                      for _ in range(VALUES)]
            pats = ["".join(rnd.choice(PAT)
                            for _ in range(rnd.randint(0, 8)))
                    for _ in range(PATTERNS)]
            with open(path, "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                for v in values:
                    w.writerow(["x", v])
            sql = "SELECT " + ", ".join(
                f"s._2 LIKE '{p}'" for p in pats) + " FROM S3Object s"
            rows = list(csv.reader(io.StringIO(run(sel_run, path, sql))))
            for v, row in zip(values, rows, strict=True):
                for p, got in zip(pats, row, strict=True):
                    checked += 1
                    want = "true" if oracle(v, p) else "false"
                    if got != want:
                        bad += 1
                        if bad <= 20:
                            print(f"MISMATCH {v!r} LIKE {p!r}: "
                                  f"engine {got}, oracle {want}")
        # The worst cases of backtracking to the last '%': each must
        # give the oracle's answer, in time.
        big = "a" * 900_000
        with open(path, "w") as f:
            f.write("x," + big + "\n")
        # (The oracle would backtrack for ever here: the answers are
        # plain, a value without 'b' and one of 'a' only.)
        for p, want in [("%" + "a%" * 2000 + "b", "false"),
                        ("%" + "a" * 3000 + "b%", "false"),
                        ("%" + "a" * 3000 + "%" + "a" * 3000 + "b", "false"),
                        # 63 KB segments (the SQL is one argument, at
                        # most 128 KiB): 36 s a value for the old loop
                        ("%" + "a" * 63_000 + "%" + "a" * 63_000 + "b",
                         "false"),
                        ("%" + "a" * 63_000 + "%" + "a" * 63_000 + "b%",
                         "false"),
                        ("a%" + "a" * 5000, "true"),
                        ("%" + "a_" * 300 + "a%", "true"),
                        ("%" + "a_" * 300 + "b%", "false")]:
            try:
                got = run(sel_run, path,
                          f"SELECT s._2 LIKE '{p}' FROM S3Object s",
                          timeout=20).strip()
            except subprocess.TimeoutExpired:
                got = "no answer within 20 s"
            checked += 1
            if got != want:
                bad += 1
                print(f"MISMATCH long value LIKE {p[:20]!r}...: "
                      f"engine {got}, oracle {want}")
    print(f"{checked} LIKE checks, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
