#!/usr/bin/env bash
# deps.sh - install what bucketfs needs on Debian 12, and nothing that is
# already there.  Used by `make run`, `make check` and .ci/run.
#
#   packaging/deps.sh build   libraries and tools to build and mount
#   packaging/deps.sh test    build + what the test suite and its servers need
#   packaging/deps.sh bench   test + the benchmark peers (fio, rclone, miller, …)
set -euo pipefail
what=${1:-build}

build_pkgs=(build-essential meson ninja-build pkg-config fuse3 libfuse3-dev
	libxml2-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev
	libinih-dev zlib1g-dev libbz2-dev libzstd-dev libsnappy-dev liblz4-dev
	libbrotli-dev attr)
test_pkgs=(libcmocka-dev python3 python3-pytest rsync git sqlite3 openssl
	clang libclang-rt-14-dev psmisc procps gdb)
bench_pkgs=(fio rclone miller hyperfine linux-perf)
# DuckDB's Node.js client is installed by the select benchmark with npm;
# use the machine's npm when it has one (a Debian nodejs would conflict).
command -v npm >/dev/null 2>&1 || bench_pkgs+=(nodejs npm)

pkgs=("${build_pkgs[@]}")
case "$what" in
build) ;;
test) pkgs+=("${test_pkgs[@]}") ;;
bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
