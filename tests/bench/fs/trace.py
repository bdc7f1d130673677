#!/usr/bin/python3
"""trace.py - which FUSE requests each small-object operation costs.

Mounts bucketfs (and, for comparison, passthrough_ll if built by run.sh or
given with --pll) with -d, runs the metadata workloads of meta.c one phase at
a time on N files, and prints the requests per file for each phase.  The
counts explain the throughput rows of run.sh: on this 2-vCPU VM every
synchronous round trip costs 10-60 us.

usage: tests/bench/fs/trace.py BUCKETFS_BIN [--pll PASSTHROUGH_LL] [-n N]
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

OP = re.compile(r"unique: \d+, opcode: ([A-Z_0-9]+)")


def wait(pred, what, timeout=20):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            sys.exit(f"trace.py: timed out waiting for {what}")
        time.sleep(0.01)


def phases(d, n):
    buf = b"x" * 4096
    names = [os.path.join(d, f"f{i:07d}") for i in range(n)]

    def create():
        for p in names:
            fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
            os.write(fd, buf)
            os.close(fd)

    def stat1():
        for p in names:
            os.stat(p)
    stat2 = stat1

    def ls_l():
        for e in os.scandir(d):
            e.stat(follow_symlinks=False)

    def get():
        for p in names:
            fd = os.open(p, os.O_RDONLY)
            os.read(fd, 8192)
            os.close(fd)

    def unlink():
        for p in names:
            os.unlink(p)
    return [("create+write+close", create), ("stat (1st pass)", stat1),
            ("stat (2nd, cached)", stat2),
            ("ls -l", ls_l), ("GET", get), ("unlink", unlink)]


def trace(label, cmd, src, mnt, n):
    log = os.path.join(os.path.dirname(src), f"{label}.log")
    with open(log, "wb") as lf:
        proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT)
    wait(lambda: os.path.ismount(mnt), f"{label} mount")
    d = os.path.join(mnt, "b", "m")
    os.makedirs(d)
    os.stat(d)
    rows = []
    for name, fn in phases(d, n):
        mark = os.path.getsize(log)
        t0 = time.monotonic()
        fn()
        dt = time.monotonic() - t0
        time.sleep(0.2)   # let asynchronous RELEASE/FORGET land in the log
        with open(log, "rb") as f:
            f.seek(mark)
            ops = collections.Counter(OP.findall(f.read().decode(errors="replace")))
        rows.append((name, dt, ops))
    subprocess.run(["fusermount3", "-u", mnt])
    proc.wait(timeout=20)
    print(f"\n== {label}: requests per file (N={n}); with -d, times are inflated")
    for name, dt, ops in rows:
        per = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(ops.items(), key=lambda x: -x[1]))
        print(f"  {name:20s} {n / dt:9.0f}/s  {per or '(none)'}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bucketfs")
    ap.add_argument("--pll")
    ap.add_argument("-n", type=int, default=500)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as w:
        configs = [("bucketfs pt=on", lambda s, m: [a.bucketfs, s, m, "-d", "-o", "passthrough=on"]),
                   ("bucketfs pt=off", lambda s, m: [a.bucketfs, s, m, "-d", "-o", "passthrough=off"])]
        if a.pll:
            configs.append(("passthrough_ll", lambda s, m: [a.pll, "-d", "-o",
                                                          f"source={s},cache=always,writeback", m]))
        for i, (label, mk) in enumerate(configs):
            src, mnt = os.path.join(w, f"src{i}"), os.path.join(w, f"mnt{i}")
            os.makedirs(os.path.join(src, "b"))
            os.makedirs(mnt)
            trace(label, mk(src, mnt), src, mnt, a.n)


if __name__ == "__main__":
    main()
