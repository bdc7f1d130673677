#!/usr/bin/env bash
# run.sh - webhook delivery benchmark on loopback (not a test).
#
#  1. throughput: N events queued while the receiver is down, then the
#     receiver starts and the clock runs from its first request to its
#     last: batch_size=1 (one record per request) and batch_size=100.
#  2. latency: events at a steady 1000/s (one file created per event);
#     the time from close() returning to the receiver reading the
#     request, p50/p99.
# The receiver is recv.c: a minimal keep-alive HTTP/1.1 server.
#
# usage: tests/bench/delivery/run.sh [BUILD_DIR]   (default build-dlvbench,
#        a release build made on first use)
set -euo pipefail
cd "$(dirname "$0")/../../.."
top=$PWD
build=${1:-build-dlvbench}
N=${N:-20000}
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release \
	-Dtests=false >/dev/null
ninja -C "$build" fs/bucketfs >/dev/null
work=$(mktemp -d /tmp/bench-delivery.XXXXXX)
cc -O2 -Wall -Werror -o "$work/recv" tests/bench/delivery/recv.c -lpthread
bin=$top/$build/fs/bucketfs
port=$((20000 + RANDOM % 20000))
rpid= dpid=
cleanup() {
	[ -n "$rpid" ] && kill "$rpid" 2>/dev/null || true
	fusermount3 -u -z "$work/mnt" 2>/dev/null || true
	[ -n "$dpid" ] && wait "$dpid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

mount_with() { # batch_size
	mkdir -p "$work/src/alpha" "$work/mnt"
	rm -rf "$work/src/.bucketfs-state" "$work/src/alpha"/*
	printf '[webhook "bench"]\nendpoint = http://127.0.0.1:%s/\nbatch_size = %s\nretry_min = 10ms\nretry_max = 20ms\n' \
		"$port" "$1" >"$work/b.conf"
	chmod 600 "$work/b.conf"
	"$bin" "$work/src" "$work/mnt" -f -o "config=$work/b.conf" \
		2>"$work/daemon.log" &
	dpid=$!
	for _ in $(seq 100); do mountpoint -q "$work/mnt" && break; sleep 0.05; done
	setfattr -n user.s3.notification -v \
		'<NotificationConfiguration><QueueConfiguration><Id>b</Id><Queue>arn:bucketfs:sqs::bench:webhook</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>' \
		"$work/mnt/alpha"
}

unmount() {
	fusermount3 -u "$work/mnt"
	wait "$dpid" || true
	dpid=
}

queued() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["queued"])' \
		"$work/mnt/.bucketfs/targets"
}

throughput() { # batch_size
	mount_with "$1"
	python3 - "$work/mnt/alpha" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open(f"{d}/f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
PY
	: >"$work/recv.log"
	"$work/recv" "$port" "$work/recv.log" &
	rpid=$!
	while [ "$(queued)" -gt 0 ]; do sleep 0.05; done
	kill "$rpid"; wait "$rpid" 2>/dev/null || true; rpid=
	python3 - "$work/recv.log" "$1" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if int(r[1]) > 0]  # skip the s3:TestEvent
t = [int(r[0]) for r in rows]
recs = sum(int(r[1]) for r in rows)
secs = (t[-1] - t[0]) / 1e9
print(f"batch_size={sys.argv[2]:>3}: {recs} records in {len(rows)} requests, "
      f"{secs:.3f} s, {recs / secs:,.0f} events/s")
PY
	unmount
}

latency() {
	mount_with 1
	: >"$work/recv.log"
	"$work/recv" "$port" "$work/recv.log" &
	rpid=$!
	python3 - "$work/mnt/alpha" "$work/close.log" <<'PY'
import os, sys, time
d, out = sys.argv[1], sys.argv[2]
n, rate = 5000, 1000.0
ts = []
t0 = time.monotonic()
for i in range(n):
    due = t0 + i / rate
    while time.monotonic() < due:
        time.sleep(max(0.0, due - time.monotonic()))
    os.close(os.open(f"{d}/l{i}", os.O_CREAT | os.O_WRONLY, 0o644))
    ts.append(time.clock_gettime_ns(time.CLOCK_REALTIME))
open(out, "w").write("\n".join(map(str, ts)) + "\n")
PY
	for _ in $(seq 300); do
		[ "$(awk '$2 > 0' "$work/recv.log" | wc -l)" -ge 5000 ] && break
		sleep 0.1
	done
	kill "$rpid"; wait "$rpid" 2>/dev/null || true; rpid=
	python3 - "$work/recv.log" "$work/close.log" <<'PY'
import sys
recv = [int(l.split()[0]) for l in open(sys.argv[1])
        if l.strip() and int(l.split()[1]) > 0]
close = [int(l) for l in open(sys.argv[2]) if l.strip()]
lat = sorted((r - c) / 1e6 for r, c in zip(recv, close))
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"latency at 1000 events/s ({len(lat)} events): p50 {p(0.5):.2f} ms, "
      f"p99 {p(0.99):.2f} ms, max {lat[-1]:.2f} ms")
PY
	unmount
}

[ -z "${ONLY_LATENCY:-}" ] && throughput 1
[ -z "${ONLY_LATENCY:-}" ] && throughput 100
latency
