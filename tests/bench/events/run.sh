#!/bin/sh
# tests/bench/events/run.sh - the event store benchmark (events/s from 2
# threads, emit to database, per durability mode) and the MD5 one, from a
# release build without sanitizers (build-bench/, shared with
# fs_events.sh; BUILD= to use another).
#   usage: tests/bench/events/run.sh [EVENTS_PER_THREAD]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=${BUILD:-$root/build-bench}
[ -f "$build/build.ninja" ] ||
	meson setup "$build" --buildtype=release -Dtests=false >&2
ninja -C "$build" tests/bench/events/store_bench \
	tests/bench/events/md5_bench >&2
bin=$build/tests/bench/events
n=${1:-200000}
echo "== 1 event per append (FUSE threads each emit one)"
"$bin/store_bench" "$n" 1
echo "== 1 event per append from 8 threads (more FUSE threads, bigger groups)"
"$bin/store_bench" "$((n / 4))" 1 8
echo "== 16 events per append (a burst handed over at once)"
"$bin/store_bench" "$n" 16
echo "== eTag hashing: eight messages per call (cmn_md5_many) vs OpenSSL one by one"
"$bin/md5_bench"
