#!/usr/bin/env bash
# fs_events.sh - what events cost at the FUSE level (issue 3, not a test).
#
# The small-file workload of tests/bench/fs (N files of FSIZE bytes:
# create+write+close, then open+read+close (GET), then unlink), through
# bucketfs, in one run, with these rule sets (global rules on the mount
# root, set with setfattr before the workload):
#
#   a_none    rules that subscribe nothing the workload does
#             (s3:ObjectRestore:* only): one bit test per operation
#   b_commit  the default rule to `local` (s3:ObjectCreated:*,
#             s3:ObjectRemoved:*) plus s3:ObjectAccessed:Get, so GET has
#             something to record; -o durability=commit (the default)
#   c_none    the same rules, -o durability=none
#   d_nomatch the same events, filtered to prefix no-such/: every
#             operation is matched and nothing is recorded
#   a_twin    a_none again: its ratio to a_none is what identical
#             configurations differ by in this run (the noise floor any
#             other ratio is read against)
#   e_noget   (not in the default set) c_none without
#             s3:ObjectAccessed:Get: its GETs record nothing, so its GET
#             ratio is what the create phase's background work (hashing,
#             ingest on the other CPU) leaves behind for the operations
#             after it, and c_none's GET ratio minus it is what recording
#             a GET costs
#
# Rounds are interleaved (the config order rotates each round, every mount
# is fresh); the medians and the ratios to a_none are printed with the bars
# of issue 3: b >= 0.85, c >= 0.95, d >= 0.98 (x a_none), judged on the
# median of the per-round ratios (see the table's comment).
#
# usage: tests/bench/events/fs_events.sh
# env knobs [defaults]:
#   RUNS=5  NFILES=10000  FSIZE=4096
#   CONFIGS="a_none b_commit c_none d_nomatch a_twin"
#   PASSTHROUGH=auto      -o passthrough= for every mount
#   OPTS=                 more -o options for every mount (e.g. spin=0)
#   BUCKETFS_BIN=...      default: a release build in build-bench/
#   BENCH_DIR=/var/tmp    where the work directories go
#   KEEP_RAW=FILE         keep the raw "round config metric value" samples
#   BACKING=auto          ramext4 (root: a journaled ext4 in RAM) or dir
#   PIN=                  a CPU number: the daemon and the workload run on
#                         that CPU only (taskset).  On this 2-vCPU VM a
#                         FUSE round trip between CPUs costs about 3x one
#                         on the same CPU, and where the scheduler puts the
#                         two decides the create rate: unpinned, a_none
#                         alone measured 760-2600 creates/s over 5 runs,
#                         pinned 5200-5600.  (Since fs_recv polls the
#                         device, unpinned a_none runs 2100-4200 creates/s,
#                         still 2x apart.)  Pinned is also the worst case
#                         for events: the hasher and the ingester then
#                         take their CPU time from the workload.
#                         PIN=split: the workload and the FUSE threads
#                         on CPU 0, the daemon's background threads
#                         (hasher, ingester, delivery: bfs-*) on CPU 1.
#                         What a 2-CPU machine gives events: the request
#                         path measured without the cross-CPU round trips,
#                         the background work on the other CPU.
#   TICK_MS=              with PIN=split: a process on CPU 1 that wakes
#                         every TICK_MS ms and does nothing else, during
#                         every configuration alike.  On this VM the FUSE
#                         path on CPU 0 runs about 4% faster while CPU 1
#                         is completely idle (a_none: 74 952 GETs/s, with
#                         TICK_MS=2 72 129; c_none 66 485 and 66 786), a
#                         bonus only the configurations without background
#                         work get; TICK_MS=2 compares them on equal terms.
# Besides the rates, bg_us_op: the CPU time the daemon's background
# threads (bfs-*: hasher, ingester, delivery) used during the workload,
# per operation (create, GET and unlink counted alike; what they did
# after it, at unmount, is not in it).  Pinned, it comes out of the
# workload's time.
# Smoke run:  RUNS=1 NFILES=500 tests/bench/events/fs_events.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
RUNS=${RUNS:-5}; NFILES=${NFILES:-10000}; FSIZE=${FSIZE:-4096}
CONFIGS=${CONFIGS:-"a_none b_commit c_none d_nomatch a_twin"}
PASSTHROUGH=${PASSTHROUGH:-auto}
OPTS=${OPTS:-}
PIN=${PIN:-}
pin=()
BG_CPU=
case $PIN in
'') ;;
split) pin=(taskset -c 0); BG_CPU=1 ;;
*) pin=(taskset -c "$PIN") ;;
esac
BENCH_DIR=${BENCH_DIR:-/var/tmp}

log() { echo "fs_events.sh: $*" >&2; }
for t in cc fusermount3 mountpoint setfattr; do
	command -v "$t" >/dev/null || { log "$t missing"; exit 2; }
done

W=$(mktemp -d "$BENCH_DIR/bucketfs-evbench.XXXXXX")
PID=
IMG=
TICKER=
cleanup() {
	mountpoint -q "$W/mnt" 2>/dev/null && fusermount3 -u -z "$W/mnt"
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	[ -n "$TICKER" ] && kill "$TICKER" 2>/dev/null
	mountpoint -q "$W/src" 2>/dev/null && umount "$W/src"
	[ -n "$IMG" ] && rm -f "$IMG"
	rm -rf "$W"
}
trap cleanup EXIT

# ---- the workload: create, GET, unlink; one "metric ops/s" line each -----
cat > "$W/evwork.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	const char *d = argv[1];
	int n = atoi(argv[2]);
	size_t fs = strtoul(argv[3], NULL, 10);
	char *buf = malloc(fs ? fs : 1), p[4096];
	if (!buf || n <= 0)
		return 2;
	memset(buf, 'x', fs);
	double t0 = now();
	for (int i = 0; i < n; i++) { /* PUT */
		snprintf(p, sizeof p, "%s/f%07d", d, i);
		int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, fs) != (ssize_t)fs || close(fd)) {
			perror(p);
			return 1;
		}
	}
	printf("create_ops %.0f\n", n / (now() - t0));
	t0 = now();
	for (int i = 0; i < n; i++) { /* GET */
		snprintf(p, sizeof p, "%s/f%07d", d, i);
		int fd = open(p, O_RDONLY);
		if (fd < 0) {
			perror(p);
			return 1;
		}
		while (read(fd, buf, fs ? fs : 1) > 0) {
		}
		close(fd);
	}
	printf("get_ops %.0f\n", n / (now() - t0));
	t0 = now();
	for (int i = 0; i < n; i++) { /* DELETE */
		snprintf(p, sizeof p, "%s/f%07d", d, i);
		if (unlink(p)) {
			perror(p);
			return 1;
		}
	}
	printf("unlink_ops %.0f\n", n / (now() - t0));
	return 0;
}
EOF
cc -O2 -Wall -o "$W/evwork" "$W/evwork.c"
if [ -n "${TICK_MS:-}" ] && [ -n "$BG_CPU" ]; then
	printf '#include <stdlib.h>\n#include <unistd.h>\nint main(int c, char **v) { (void)c; for (;;) usleep((useconds_t)atoi(v[1]) * 1000); }\n' > "$W/ticker.c"
	cc -O2 -Wall -o "$W/ticker" "$W/ticker.c"
	taskset -c "$BG_CPU" "$W/ticker" "$TICK_MS" &
	TICKER=$!
elif [ -n "${TICK_MS:-}" ]; then
	log "TICK_MS needs PIN=split (a CPU for the background): ignored"
fi

if [ -z "${BUCKETFS_BIN:-}" ]; then
	b="$top/build-bench"
	[ -f "$b/build.ninja" ] || meson setup "$b" --buildtype=release -Dtests=false -Dwerror=false >&2
	ninja -C "$b" fs/bucketfs >&2
	BUCKETFS_BIN="$b/fs/bucketfs"
fi
[ -x "$BUCKETFS_BIN" ] || { log "no bucketfs binary at $BUCKETFS_BIN"; exit 2; }

# ---- rule sets ----------------------------------------------------------
LOCAL=arn:bucketfs:sqs::local:sqlite
xml() { # [prefix] event...
	local pre=$1; shift
	printf '<NotificationConfiguration><QueueConfiguration><Id>bench</Id>'
	[ -n "$pre" ] && printf '<Filter><S3Key><FilterRule><Name>prefix</Name><Value>%s</Value></FilterRule></S3Key></Filter>' "$pre"
	printf '<Queue>%s</Queue>' "$LOCAL"
	for e in "$@"; do printf '<Event>%s</Event>' "$e"; done
	printf '</QueueConfiguration></NotificationConfiguration>'
}
WANTED="s3:ObjectCreated:* s3:ObjectRemoved:* s3:ObjectAccessed:Get"
# shellcheck disable=SC2086
rules_of() {
	case $1 in
	a_none | a_twin) xml "" "s3:ObjectRestore:*" ;;
	b_commit | c_none) xml "" $WANTED ;;
	d_nomatch) xml "no-such/" $WANTED ;;
	e_noget) xml "" "s3:ObjectCreated:*" "s3:ObjectRemoved:*" ;;
	esac
}
opts_of() {
	case $1 in
	c_none | e_noget) echo "passthrough=$PASSTHROUGH,durability=none${OPTS:+,$OPTS}" ;;
	*) echo "passthrough=$PASSTHROUGH,durability=commit${OPTS:+,$OPTS}" ;;
	esac
}

# ---- the backing directory ----------------------------------------------
# BACKING=ramext4 (the default when root): one journaled ext4, made with
# mkfs on a loop device over a file in /dev/shm, for the whole run.
# Why: on an ext4 *without* a journal (this VM's root file system is one),
# the inode allocator skips inodes freed in the last 30 s by scanning them
# one by one (recently_deleted() in fs/ext4/ialloc.c: 38% of the kernel
# time of a create here), so the create rate of the same configuration
# swung between 6 000 and 27 000/s natively, and 3x through bucketfs,
# depending only on how long ago the previous measurement unlinked its
# files.  A journaled ext4 skips that check, and a RAM-backed device takes
# the disk's latency out of what is, here, a CPU measurement: native
# creates on it hold at 24 000-29 000/s run after run.
# BACKING=dir: a plain directory under BENCH_DIR (the numbers then swing).
BACKING=${BACKING:-auto}
if [ "$BACKING" = auto ]; then
	BACKING=dir
	[ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null && [ -d /dev/shm ] &&
		BACKING=ramext4
fi

setup_backing() {
	mkdir -p "$W/src"
	[ "$BACKING" = ramext4 ] || return 0
	IMG=$(mktemp /dev/shm/bucketfs-evbench.XXXXXX)
	truncate -s 2G "$IMG"
	# initialised now, not by a kernel thread during the measurements
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$IMG"
	mount -o loop "$IMG" "$W/src"
}
fresh_src() {
	find "$W/src" -mindepth 1 -maxdepth 1 ! -name lost+found \
		-exec rm -rf {} +
}
setup_backing

# ---- one measurement ----------------------------------------------------
background_to() { # cpu pid: the daemon's bfs-* threads to that CPU
	local t
	for t in /proc/"$2"/task/*; do
		case $(cat "$t/comm" 2>/dev/null) in
		bfs-*) taskset -p -c "$1" "${t##*/}" >/dev/null ;;
		esac
	done
}
background_ns() { # pid: CPU time (ns) of its background threads (bfs-*)
	local t n=0 comm
	for t in /proc/"$1"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		case $comm in bfs-*) n=$(( n + $(cut -d' ' -f1 "$t/schedstat") )) ;; esac
	done
	echo "$n"
}
run_one() { # round config
	local c=$2 i
	fresh_src
	mkdir -p "$W/src/bench" "$W/mnt"
	"${pin[@]}" "$BUCKETFS_BIN" "$W/src" "$W/mnt" -f -o "$(opts_of "$c")" \
		2>"$W/$c.log" &
	PID=$!
	for i in $(seq 1000); do
		mountpoint -q "$W/mnt" && break
		kill -0 "$PID" 2>/dev/null || { log "$c did not mount"; cat "$W/$c.log" >&2; exit 1; }
		sleep 0.01
	done
	setfattr -n user.s3.notification -v "$(rules_of "$c")" "$W/mnt"
	[ -n "$BG_CPU" ] && background_to "$BG_CPU" "$PID"
	sync
	local bg0
	bg0=$(background_ns "$PID")
	"${pin[@]}" "$W/evwork" "$W/mnt/bench" "$NFILES" "$FSIZE" |
		sed "s/^/$1 $c /" >> "$W/raw"
	# what the background threads used meanwhile, per operation
	awk -v r="$1" -v c="$c" -v a="$bg0" -v b="$(background_ns "$PID")" \
		-v n="$NFILES" 'BEGIN {printf "%s %s bg_us_op %.1f\n", r, c, (b - a) / (3 * n * 1000)}' >> "$W/raw"
	fusermount3 -u "$W/mnt" 2>/dev/null || fusermount3 -u -z "$W/mnt"
	wait "$PID" 2>/dev/null || true
	PID=
	# what the log holds after the unmount drained it (sanity: b and c
	# record every operation, e creates and unlinks, a and d nothing)
	local n
	n=$(timeout 60 "$BUCKETFS_BIN" events --state "$W/src/.bucketfs-state" | wc -l)
	echo "$1 $c logged $n" >> "$W/raw"
}

read -r -a cfgs <<< "$CONFIGS"
for r in $(seq "$RUNS"); do
	k=$(( (r - 1) % ${#cfgs[@]} ))
	order=("${cfgs[@]:k}" "${cfgs[@]:0:k}")
	log "round $r/$RUNS: ${order[*]}"
	for c in "${order[@]}"; do run_one "$r" "$c"; done
done
[ -n "${KEEP_RAW:-}" ] && cp "$W/raw" "$KEEP_RAW"

# ---- table --------------------------------------------------------------
median() { sort -n | awk '{v[NR]=$1} END {if (NR==0) {print "nan"; exit} if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
med() { awk -v c="$1" -v m="$2" '$2==c && $3==m {print $4}' "$W/raw" | median; }
# "min-max" of the rounds: identical configurations differ by this much
spread() { awk -v c="$1" -v m="$2" '$2==c && $3==m {print $4}' "$W/raw" |
	sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {if (NR) print lo "-" hi}'; }

echo
echo "bucketfs events at the FUSE level: $NFILES x $FSIZE B, $RUNS rounds, medians (ops/s)"
echo "kernel $(uname -r), $(nproc) CPUs, passthrough=$PASSTHROUGH, backing=$BACKING, pin=${PIN:-none}, opts=${OPTS:-none}, tick=$([ -n "$TICKER" ] && echo "$TICK_MS ms" || echo none), $BUCKETFS_BIN"
printf '%-11s' "metric"; for c in "${cfgs[@]}"; do printf ' %12s' "$c"; done; echo
for m in create_ops get_ops unlink_ops logged bg_us_op; do
	printf '%-11s' "$m"; for c in "${cfgs[@]}"; do printf ' %12s' "$(med "$c" "$m")"; done; echo
done
echo "spread of the rounds (min-max)"
for m in create_ops get_ops unlink_ops; do
	printf '%-11s' "$m"; for c in "${cfgs[@]}"; do printf ' %12s' "$(spread "$c" "$m")"; done; echo
done
# The same configuration measured twice rarely agrees within 10% on this
# VM (the host's load comes and goes); a_none and each other config of the
# same round ran within a minute of each other, so the ratio of the two,
# per round, cancels what drifts more slowly than that.  The verdict is on
# the median of those paired ratios; the ratio of the medians and the
# range of the paired ratios are printed beside it.
paired() { # config metric: "round ratio" lines
	awk -v c="$1" -v m="$2" '$3==m && ($2==c || $2=="a_none") {v[$1" "$2]=$4; r[$1]=1}
		END {for (i in r) if ((i" "c) in v && v[i" a_none"] > 0) print v[i" "c] / v[i" a_none"]}' "$W/raw"
}
echo
echo "ratio to a_none: median of the per-round ratios [their range], ratio of the medians, (bar)"
for m in create_ops get_ops unlink_ops; do
	base=$(med a_none "$m")
	for c in "${cfgs[@]}"; do
		case $c in b_commit) bar=0.85 ;; c_none) bar=0.95 ;; d_nomatch) bar=0.98 ;;
		a_twin) bar=noise ;; e_noget) bar=info ;; *) continue ;; esac
		v=$(med "$c" "$m")
		pm=$(paired "$c" "$m" | median)
		rng=$(paired "$c" "$m" | sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {if (NR) printf "%.2f-%.2f", lo, hi}')
		verdict=$(awk -v p="$pm" -v v="$v" -v b="$base" -v bar="$bar" -v rng="$rng" \
			'BEGIN {
				if (bar == "noise") w = "(identical to a_none: the noise floor)"
				else if (bar == "info") w = "(no bar: c_none without GET records)"
				else w = ((p + 0 >= bar + 0) ? "ok" : "BELOW") " (>= " bar ")"
				printf "%.3f [%s]  %.3f  %s", p, rng, v / b, w
			}')
		printf '  %-11s %-10s %s\n' "$m" "$c" "$verdict"
	done
done
exit 0
