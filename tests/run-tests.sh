#!/usr/bin/env bash
# run-tests.sh - build with ASan+UBSan and run every test: the meson suite
# (cmocka unit tests, data-driven engine tests, fuzz corpus replays), the
# pytest integration suite against real mounts and real servers, the
# integration tests of the threaded parts again under ThreadSanitizer
# (TSAN=0 skips), the quick start's release build (RELEASE=0 skips), then
# a bounded libFuzzer session per harness (FUZZ_RUNS, default 20000).
# The last line is the combined summary: "N passed, N failed[, N skipped]".
#
# usage: tests/run-tests.sh [BUILD_DIR]     (default build-check)
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${1:-build-check}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false \
		--buildtype=debugoptimized || exit 1
fi
ninja -C "$build" || exit 1

passed=0 failed=0 skipped=0

# Add the summary line of a pytest log to the counts (no line: a failure),
# and remove the log.
count_pytest() {
	local line p f e s
	line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$1" | tail -1)
	p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
	f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
	e=$(echo "$line" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+')
	s=$(echo "$line" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
	skipped=$((skipped + ${s:-0}))
	[ -n "$line" ] || failed=$((failed + 1))
	rm -f "$1"
}

# 1. meson: unit tests, engine data tests, corpus replays.
log=$(mktemp)
meson test -C "$build" --print-errorlogs --num-processes 2 2>&1 | tee "$log"
ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -1)
fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log" | tail -1)
sk=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
passed=$((passed + ${ok:-0}))
failed=$((failed + ${fail:-0} + ${to:-0}))
skipped=$((skipped + ${sk:-0}))
[ -n "$ok" ] || failed=$((failed + 1))
rm -f "$log"

# 2. pytest: integration tests through real mounts.
if [ -d tests/integration ] && ls tests/integration/test_*.py >/dev/null 2>&1; then
	log=$(mktemp)
	BUCKETFS_BIN="$top/$build/fs/bucketfs" BUCKETFS_BUILD="$top/$build" \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration 2>&1 | tee "$log"
	count_pytest "$log"
fi

# 3. ThreadSanitizer: the daemon built with -fsanitize=thread serves the
#    whole integration suite again (every part of it is threaded: request
#    loop, event pipeline, hasher, store, stream readers, delivery and its
#    reloads, select cache).  A data race or a lock-order inversion makes
#    it exit non-zero at unmount, which fails the test.  About 3.5 minutes
#    here; TSAN=0 skips it.
if [ "${TSAN:-1}" != 0 ]; then
	tb=${build}-tsan
	if [ ! -f "$tb/build.ninja" ]; then
		meson setup "$tb" -Db_sanitize=thread -Dtests=false \
			--buildtype=debugoptimized >/dev/null || exit 1
	fi
	ninja -C "$tb" fs/bucketfs >/dev/null || exit 1
	log=$(mktemp)
	echo "ThreadSanitizer pass:"
	TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1} \
	BUCKETFS_BIN="$top/$tb/fs/bucketfs" BUCKETFS_BUILD="$top/$build" \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider \
		tests/integration 2>&1 | tee "$log"
	count_pytest "$log"
fi

# 4. The release build the README's quick start makes (make: -O3, no
#    sanitizers) must compile too: with -Werror, GCC's warnings at -O3
#    (-Wdangling-pointer, -Wstringop-overflow, ...) are not those at -O2
#    with ASan, and only this build would show them.  RELEASE=0 skips it.
if [ "${RELEASE:-1}" != 0 ]; then
	rb=${build}-release
	if [ ! -f "$rb/build.ninja" ]; then
		meson setup "$rb" --buildtype=release -Dtests=false 			>/dev/null || exit 1
	fi
	if ninja -C "$rb" >"$rb.log" 2>&1; then
		echo "release build: ok"
		passed=$((passed + 1))
	else
		echo "FAIL release build:"
		grep -E "error|warning" "$rb.log" | head -30
		failed=$((failed + 1))
	fi
	rm -f "$rb.log"
fi

# 5. libFuzzer: every harness for a bounded, repeatable session (a fixed
#    seed and number of runs, so a pass here is a pass everywhere) from a
#    copy of its corpus, under ASan+UBSan.  FUZZ_RUNS=0 skips it; a crash
#    prints the input's bytes to reproduce with.
fuzz_runs=${FUZZ_RUNS:-20000}
if [ "$fuzz_runs" -gt 0 ] && command -v clang >/dev/null; then
	fb=${build}-fuzz
	if [ ! -f "$fb/build.ninja" ]; then
		CC=clang meson setup "$fb" -Dfuzzing=true \
			-Db_sanitize=address,undefined -Db_lundef=false \
			>/dev/null || exit 1
	fi
	ninja -C "$fb" >/dev/null || exit 1
	for h in "$fb"/tests/fuzz/fuzz-*; do
		[ -f "$h" ] && [ -x "$h" ] || continue
		name=${h##*/fuzz-}
		work=$(mktemp -d)
		mkdir "$work/corpus"
		cp tests/fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null
		if "$h" -seed=1 -runs="$fuzz_runs" -rss_limit_mb=2048 \
			-timeout=30 -artifact_prefix="$work/" "$work/corpus" \
			>"$work/log" 2>&1; then
			echo "fuzz-$name: $fuzz_runs runs, no crash"
			passed=$((passed + 1))
		else
			echo "FAIL fuzz-$name:"
			tail -30 "$work/log"
			for a in "$work"/crash-* "$work"/leak-* "$work"/oom-* \
				"$work"/timeout-*; do
				[ -f "$a" ] && echo "input ${a##*/}:" && od -An -tx1 "$a" | head -40
			done
			failed=$((failed + 1))
		fi
		rm -rf "$work"
	done
fi

echo
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
