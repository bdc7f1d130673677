#!/usr/bin/env bash
# run.sh - the FUSE-layer benchmark (issue 2, not a test): the same
# workloads, in one run, on the same ext4, through
#
#   native     the backing directory itself
#   bfs_pt     bucketfs -o passthrough=on   (needs root + kernel >= 6.9)
#   bfs_nopt   bucketfs -o passthrough=off  (writeback-cache path)
#   pll        libfuse's passthrough_ll example, compiled here from Debian's
#              /usr/share/doc/libfuse3-dev/examples, -o cache=always,writeback
#              (86400 s timeouts, keep_cache, cache_readdir, writeback cache)
#   rclone     rclone mount SRC MNT --vfs-cache-mode off
#   (optional) bfs_pt_dnone, bfs_nopt_dnone: bucketfs with -o durability=none
#              (events recorded asynchronously), to separate the cost of the
#              embedded event log from the FUSE layer's
#   (optional) bfs_pt_spin0: bucketfs -o passthrough=on,spin=0 (workers
#              sleep in read(2) instead of one polling briefly), to show
#              what polling gives (fs/fs_recv.h)
#
# and prints, per metric, the median of RUNS runs for each config, the
# ratios to native and to each peer, and the issue's acceptance bars.
# Adapted from shared/reference/fusebench.sh (one driver for all configs,
# configs interleaved round by round, every mount fresh per round).
#
# usage: tests/bench/fs/run.sh            (as root; installs peers via
#                                          packaging/deps.sh bench)
# env knobs [defaults]:
#   RUNS=5            rounds; medians reported
#   SIZE_MB=1024      sequential file size (1 MiB writes / reads)
#   NFILES=10000      files for the metadata workloads
#   FSIZE=4096        bytes per small file
#   RR_SECS=5         runtime of the 4 KiB random-read test
#   CONFIGS="native bfs_pt bfs_nopt pll rclone"
#   TESTS="seqwrite seqread_cold seqread_warm randread meta"
#   BUCKETFS_BIN=...  bucketfs binary (default: build a release build in
#                     build-bench-fs/ at the top of the checkout)
#   BENCH_DIR=/var/tmp  where the work directories go (must be the ext4
#                     the comparison is about)
#   KEEP_RAW=FILE     keep the raw "config metric value" samples
#   BACKING=dir       dir: the work directories under BENCH_DIR; ramext4
#                     (root): one journaled ext4 on a loop device over
#                     /dev/shm for all configs.  On an ext4 without a
#                     journal (this VM's root file system) the inode
#                     allocator scans the inodes freed in the last 30 s on
#                     every create, so native creates swing 1.8-27k/s with
#                     the time since the previous unlink phase
#                     (tests/bench/events/fs_events.sh, which defaults to
#                     ramext4).  "Cold" reads then come from RAM.
# Smoke run (~1 min):  RUNS=1 SIZE_MB=64 NFILES=500 RR_SECS=1 tests/bench/fs/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
RUNS=${RUNS:-5}; SIZE_MB=${SIZE_MB:-1024}; NFILES=${NFILES:-10000}; FSIZE=${FSIZE:-4096}
RR_SECS=${RR_SECS:-5}
CONFIGS=${CONFIGS:-"native bfs_pt bfs_nopt pll rclone"}
TESTS=${TESTS:-"seqwrite seqread_cold seqread_warm randread meta"}
BENCH_DIR=${BENCH_DIR:-/var/tmp}

log() { echo "run.sh: $*" >&2; }

# ---- peers and tools --------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then "$top/packaging/deps.sh" bench >&2 || log "deps.sh bench failed; continuing with what is installed"; fi
for t in fio cc fusermount3 mountpoint; do
	command -v "$t" >/dev/null || { log "$t missing (packaging/deps.sh bench)"; exit 2; }
done

W=$(mktemp -d "$BENCH_DIR/bucketfs-bench.XXXXXX")
PIDS=()
IMG=
cleanup() {
	for m in "$W"/mnt-*; do
		[ -d "$m" ] && mountpoint -q "$m" && fusermount3 -u -z "$m" 2>/dev/null
	done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
	mountpoint -q "$W/disk" 2>/dev/null && umount "$W/disk"
	[ -n "$IMG" ] && rm -f "$IMG"
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/bin"

# The backing store of every config (see BACKING above): SRCS is where
# the src-CONFIG directories go.
BACKING=${BACKING:-dir}
SRCS=$W
if [ "$BACKING" = ramext4 ]; then
	[ "$(id -u)" = 0 ] || { log "BACKING=ramext4 needs root"; exit 2; }
	IMG=$(mktemp /dev/shm/bucketfs-bench.XXXXXX)
	truncate -s $((SIZE_MB * 2 + 2048))M "$IMG"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$IMG"
	mkdir -p "$W/disk"
	mount -o loop "$IMG" "$W/disk"
	SRCS=$W/disk
fi

cc -O2 -Wall -o "$W/bin/meta" "$here/meta.c"

ex=/usr/share/doc/libfuse3-dev/examples
if [[ " $CONFIGS " == *" pll "* ]]; then
	if [ -f "$ex/passthrough_ll.c" ]; then cp "$ex/passthrough_ll.c" "$W/pll.c"
	elif [ -f "$ex/passthrough_ll.c.gz" ]; then zcat "$ex/passthrough_ll.c.gz" > "$W/pll.c"
	else log "no passthrough_ll.c in $ex (libfuse3-dev); skipping pll"; CONFIGS=${CONFIGS/pll/}; fi
	if [ -f "$W/pll.c" ]; then
		for h in passthrough_helpers.h; do
			[ -f "$ex/$h" ] && cp "$ex/$h" "$W/"; [ -f "$ex/$h.gz" ] && zcat "$ex/$h.gz" > "$W/$h"
		done
		# shellcheck disable=SC2046
		cc -O2 -Wall -o "$W/bin/passthrough_ll" "$W/pll.c" $(pkg-config --cflags --libs fuse3)
	fi
fi
if [[ " $CONFIGS " == *" rclone "* ]] && ! command -v rclone >/dev/null; then
	log "rclone missing; skipping"; CONFIGS=${CONFIGS/rclone/}
fi

if [[ " $CONFIGS " == *" bfs_"* ]]; then
	if [ -z "${BUCKETFS_BIN:-}" ]; then
		b="$top/build-bench-fs"   # our own: other benchmarks rebuild theirs
		# werror off: this is a measurement build, not the CI gate
		[ -f "$b/build.ninja" ] || meson setup "$b" --buildtype=release -Db_ndebug=true -Dwerror=false -Dtests=false >&2
		ninja -C "$b" >&2
		BUCKETFS_BIN="$b/fs/bucketfs"
	fi
	[ -x "$BUCKETFS_BIN" ] || { log "no bucketfs binary at $BUCKETFS_BIN"; exit 2; }
fi

# ---- mounting ---------------------------------------------------------------
# mount CONFIG -> sets DIR (where the workloads run) and PID
wait_mount() { # mnt pid
	local i
	for i in $(seq 1000); do
		mountpoint -q "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}
mount_cfg() {
	local c=$1 src="$SRCS/src-$1" mnt="$W/mnt-$1"
	mkdir -p "$src/bench" "$mnt"
	PID=
	case $c in
	native) DIR="$src/bench"; return 0 ;;
	bfs_pt) "$BUCKETFS_BIN" "$src" "$mnt" -f -o passthrough=on 2>"$W/$c.log" & PID=$! ;;
	bfs_nopt) "$BUCKETFS_BIN" "$src" "$mnt" -f -o passthrough=off 2>"$W/$c.log" & PID=$! ;;
	bfs_pt_dnone) "$BUCKETFS_BIN" "$src" "$mnt" -f -o passthrough=on,durability=none 2>"$W/$c.log" & PID=$! ;;
	bfs_pt_spin0) "$BUCKETFS_BIN" "$src" "$mnt" -f -o passthrough=on,spin=0 2>"$W/$c.log" & PID=$! ;;
	bfs_nopt_dnone) "$BUCKETFS_BIN" "$src" "$mnt" -f -o passthrough=off,durability=none 2>"$W/$c.log" & PID=$! ;;
	pll) "$W/bin/passthrough_ll" -f -o "source=$src,cache=always,writeback" "$mnt" 2>"$W/$c.log" & PID=$! ;;
	rclone) : > "$W/rclone.conf"
		rclone mount --config "$W/rclone.conf" "$src" "$mnt" --vfs-cache-mode off 2>"$W/$c.log" & PID=$! ;;
	esac
	PIDS+=("$PID")
	if ! wait_mount "$mnt" "$PID"; then
		log "$c did not mount:"; cat "$W/$c.log" >&2; return 1
	fi
	DIR="$mnt/bench"
}
umount_cfg() {
	local c=$1 mnt="$W/mnt-$1" i
	[ "$c" = native ] && return 0
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
	for i in $(seq 500); do kill -0 "$PID" 2>/dev/null || break; sleep 0.01; done
	kill "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
}

# ---- workloads (fio and the meta helper, as in fusebench.sh) ----------------
dropc() { sync; [ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches; }
fio_t() { # dir rw bs extra... -> terse line
	local dir=$1 rw=$2 bs=$3; shift 3
	fio --name=fb --directory="$dir" --filename=seq.dat --rw="$rw" --bs="$bs" --size="${SIZE_MB}M" \
		--ioengine=psync --numjobs=1 --invalidate=0 --minimal "$@" 2>/dev/null | tail -1
}
# the read tests need the file; dd (O_WRONLY|O_CREAT|O_TRUNC) works where O_RDWR opens are refused
mkseq() {
	local f="$1/seq.dat"
	[ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -ge $((SIZE_MB * 1048576)) ] && return 0
	rm -f "$f"; dd if=/dev/zero of="$f" bs=1M count="$SIZE_MB" status=none
}
bench_once() { # config dir out
	local c=$1 d=$2 out=$3 t
	for t in $TESTS; do
		( case $t in
		seqwrite) # overwrite of an existing 1 GiB file in 1 MiB writes, no fsync
			[ -f "$d/seq.dat" ] || mkseq "$d"
			fio_t "$d" write 1M | awk -F';' -v c="$c" '$48>0{printf "%s seqwrite_MiBs %.1f\n", c, $48/1024}' >> "$out" ;;
		seqread_cold)
			mkseq "$d"
			if dropc; then fio_t "$d" read 1M | awk -F';' -v c="$c" '$7>0{printf "%s seqread_cold_MiBs %.1f\n", c, $7/1024}' >> "$out"; fi ;;
		seqread_warm)
			mkseq "$d"; fio_t "$d" read 1M >/dev/null
			fio_t "$d" read 1M | awk -F';' -v c="$c" '$7>0{printf "%s seqread_warm_MiBs %.1f\n", c, $7/1024}' >> "$out" ;;
		randread)
			mkseq "$d"
			fio_t "$d" randread 4k --time_based --runtime="$RR_SECS" --norandommap |
				awk -F';' -v c="$c" '$8>0{printf "%s randread4k_iops %.0f\n", c, $8}' >> "$out" ;;
		meta)
			mkdir -p "$d/m"; sync
			"$W/bin/meta" "$d/m" "$NFILES" "$FSIZE" | sed "s/^/$c /" >> "$out"
			rm -rf "$d/m" ;;
		esac ) || log "round $r: $t failed on $c"
	done
}

RAW="$W/raw.txt"; : > "$RAW"
set -- $CONFIGS
ncfg=$#
for r in $(seq "$RUNS"); do
	# rotate the order every round so no config always runs first/last
	order=()
	for i in $(seq 0 $((ncfg - 1))); do
		j=$(( (i + r - 1) % ncfg + 1 )); order+=("${!j}")
	done
	for c in "${order[@]}"; do
		log "round $r/$RUNS: $c"
		if mount_cfg "$c"; then
			mkdir -p "$DIR"
			bench_once "$c" "$DIR" "$RAW"
			rm -f "$DIR/seq.dat" 2>/dev/null || true
			umount_cfg "$c"
			rm -rf "$SRCS/src-$c"   # fresh SRC (and state) every round
		fi
	done
	[ -n "${KEEP_RAW:-}" ] && cp "$RAW" "$KEEP_RAW"   # survives an interrupted run
done
[ -n "${KEEP_RAW:-}" ] && cp "$RAW" "$KEEP_RAW"

# ---- table ------------------------------------------------------------------
median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) {print "nan"; exit} if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
val() { awk -v c="$1" -v m="$2" '$1==c && $2==m {print $3}' "$RAW" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="nan" || b=="nan" || b+0==0) print "-"; else printf "%.2f", a/b }'; }
metrics="seqwrite_MiBs seqread_cold_MiBs seqread_warm_MiBs randread4k_iops create_ops stat_ops readdir_ms ls_l_ms get_ops unlink_ops"
declare -A V
for m in $metrics; do for c in $CONFIGS; do V[$c.$m]=$(val "$c" "$m"); done; done

echo
echo "# medians of $RUNS runs; _MiBs/_iops/_ops: higher is better; _ms: lower is better"
printf "%-18s" metric; for c in $CONFIGS; do printf " %11s" "$c"; done; echo
for m in $metrics; do
	any=0; for c in $CONFIGS; do [ "${V[$c.$m]}" != nan ] && any=1; done
	[ $any = 1 ] || continue
	printf "%-18s" "$m"; for c in $CONFIGS; do printf " %11s" "${V[$c.$m]}"; done; echo
done

echo
echo "# ratios (ours / reference, same units: for _ms rows lower is better)"
refs=""; for c in native pll rclone; do [[ " $CONFIGS " == *" $c "* ]] && refs="$refs $c"; done
ours=""; for c in $CONFIGS; do [[ $c == bfs_* ]] && ours="$ours $c"; done
printf "%-18s" metric
for o in $ours; do for ref in $refs; do printf " %17s" "$o/$ref"; done; done; echo
for m in $metrics; do
	printf "%-18s" "$m"
	for o in $ours; do for ref in $refs; do printf " %17s" "$(ratio "${V[$o.$m]:-nan}" "${V[$ref.$m]:-nan}")"; done; done; echo
done

# ---- the issue's acceptance bars --------------------------------------------
echo
echo "# acceptance bars (issue 2)"
bar() { # label value op threshold
	local verdict
	verdict=$(awk -v v="$2" -v op="$3" -v t="$4" 'BEGIN{ if (v=="-" || v=="nan") {print "n/a"; exit}
		ok = (op==">=") ? (v+0 >= t+0) : (v+0 <= t+0); print ok ? "PASS" : "MISS" }')
	printf "  %-4s %-52s %8s %s %s\n" "$verdict" "$1" "$2" "$3" "$4"
}
g() { echo "${V[$1.$2]:-nan}"; }
if [[ " $CONFIGS " == *" bfs_pt "* ]] && [[ " $CONFIGS " == *" native "* ]]; then
	bar "pt on: 1 MiB overwrite / native" "$(ratio "$(g bfs_pt seqwrite_MiBs)" "$(g native seqwrite_MiBs)")" ">=" 0.80
	bar "pt on: warm seq read / native" "$(ratio "$(g bfs_pt seqread_warm_MiBs)" "$(g native seqread_warm_MiBs)")" ">=" 0.85
	bar "pt on: 4 KiB random read / native" "$(ratio "$(g bfs_pt randread4k_iops)" "$(g native randread4k_iops)")" ">=" 0.85
fi
if [[ " $CONFIGS " == *" bfs_nopt "* ]] && [[ " $CONFIGS " == *" native "* ]]; then
	bar "pt off: 1 MiB overwrite / native" "$(ratio "$(g bfs_nopt seqwrite_MiBs)" "$(g native seqwrite_MiBs)")" ">=" 0.33
	bar "pt off: warm seq read / native" "$(ratio "$(g bfs_nopt seqread_warm_MiBs)" "$(g native seqread_warm_MiBs)")" ">=" 0.80
	bar "pt off: 4 KiB random read / native" "$(ratio "$(g bfs_nopt randread4k_iops)" "$(g native randread4k_iops)")" ">=" 0.80
fi
for o in $ours; do
	if [[ " $CONFIGS " == *" native "* ]]; then
		bar "$o: cached stat / native" "$(ratio "$(g "$o" stat_ops)" "$(g native stat_ops)")" ">=" 0.80
		bar "$o: ls -l time / native's" "$(ratio "$(g "$o" ls_l_ms)" "$(g native ls_l_ms)")" "<=" 1.10
		bar "$o: readdir time / native's" "$(ratio "$(g "$o" readdir_ms)" "$(g native readdir_ms)")" "<=" 1.00
	fi
	bar "$o: create+write+close /s" "$(g "$o" create_ops)" ">=" 4000
	bar "$o: GET /s" "$(g "$o" get_ops)" ">=" 20000
	bar "$o: unlink /s" "$(g "$o" unlink_ops)" ">=" 12000
	for m in create_ops get_ops unlink_ops; do
		[[ " $CONFIGS " == *" pll "* ]] && bar "$o: $m / passthrough_ll" "$(ratio "$(g "$o" $m)" "$(g pll $m)")" ">=" 1.2
		[[ " $CONFIGS " == *" rclone "* ]] && bar "$o: $m / rclone" "$(ratio "$(g "$o" $m)" "$(g rclone $m)")" ">=" 3.0
	done
done
echo "# runs=$RUNS size=${SIZE_MB}MiB nfiles=$NFILES fsize=$FSIZE rr_secs=$RR_SECS kernel=$(uname -r) ($(nproc) cpus) fs=$(stat -f -c %T "$SRCS") backing=$BACKING"
for c in $ours; do
	[ -s "$W/$c.log" ] && grep -E "ERROR|runtime error" "$W/$c.log" >&2 && log "$c logged errors (see above)"
done
exit 0
