#!/bin/sh
# tests/bench/events/run.sh - build and run the event store benchmark
# (events/s from 2 threads, emit to database, per durability mode), with
# optimisation and without sanitizers, straight from the sources.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${BENCH_OUT:-$root/tests/bench/out}
mkdir -p "$out"
cc -std=c17 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Werror \
	-I"$root/notify" -I"$root/common" "$here/store_bench.c" \
	"$root/notify/ntf_store.c" "$root/notify/ntf_journal.c" \
	"$root/common/cmn_thread.c" -o "$out/store_bench" -lsqlite3 -pthread
n=${1:-200000}
echo "== 1 event per append (FUSE threads each emit one)"
"$out/store_bench" "$n" 1
echo "== 1 event per append from 8 threads (more FUSE threads, bigger groups)"
"$out/store_bench" "$((n / 4))" 1 8
echo "== 16 events per append (a burst handed over at once)"
"$out/store_bench" "$n" 16
echo "== eTag hashing: eight messages per call (cmn_md5_many) vs OpenSSL one by one"
cc -std=c17 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Werror -I"$root/common" \
	"$here/md5_bench.c" "$root/common/cmn_md5.c" -o "$out/md5_bench" -lcrypto
"$out/md5_bench"
