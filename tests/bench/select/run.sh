#!/usr/bin/env bash
# run.sh - S3 Select benchmark: bucketfs's engine against DuckDB
# (@duckdb/node-api, 2 threads), Miller and `wc -l` on the same CSV and
# NDJSON files, warm page cache, and against DuckDB on the same rows as
# Parquet (written by DuckDB from the CSV: typed columns, SNAPPY, row
# groups of 122 880 rows).  A benchmark, not a test: it prints a table
# (seconds, throughput, ratio to DuckDB, peak RSS) and checks the bars of
# issue 5 on CSV and NDJSON (>= 2x DuckDB's throughput, <= 64 MiB peak
# RSS); Parquet has no throughput bar, only the RSS one.
#
#   tests/bench/select/run.sh [SEL_RUN_BINARY]
# Environment: SEL_BENCH_ROWS (default 10000000), SEL_BENCH_DIR (default
# /tmp/sel-bench), SEL_BENCH_SKIP="duckdb miller" to leave peers out,
# SEL_BENCH_ROUNDS (default 3): every engine but Miller runs that many times
# per query and the table shows the median time and the highest RSS
# (Miller, the slowest by far, runs once).  The load average before and
# after is printed: other work on the machine skews every number.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
rows=${SEL_BENCH_ROWS:-10000000}
dir=${SEL_BENCH_DIR:-/tmp/sel-bench}
skip=${SEL_BENCH_SKIP:-}
sel=${1:-}
rounds=${SEL_BENCH_ROUNDS:-3}
mkdir -p "$dir"

if [ -z "$sel" ]; then
	if [ ! -d "$root/build-sel-bench" ]; then
		meson setup "$root/build-sel-bench" --buildtype=release \
			-Dtests=false >/dev/null
	fi
	ninja -C "$root/build-sel-bench" select/sel-run >/dev/null
	sel="$root/build-sel-bench/select/sel-run"
fi

csv="$dir/data-$rows.csv"
nd="$dir/data-$rows.ndjson"
if [ ! -s "$csv" ] || [ ! -s "$nd" ]; then
	cc -O2 -o "$dir/gen" "$here/gen.c"
	"$dir/gen" "$rows" "$csv" "$nd"
fi

duck=""
if [[ " $skip " != *" duckdb "* ]]; then
	duck="$dir/duckdb-node"
	if [ ! -d "$duck/node_modules/@duckdb/node-api" ]; then
		mkdir -p "$duck"
		(cd "$duck" && npm init -y >/dev/null &&
			npm install --silent @duckdb/node-api >/dev/null)
	fi
	cp "$here/duck.mjs" "$duck/duck.mjs"
fi
mlr=""
if [[ " $skip " != *" miller "* ]] && command -v mlr >/dev/null; then
	mlr=mlr
fi

pq="$dir/data-$rows.parquet"
if [ -n "$duck" ] && [ ! -s "$pq" ]; then
	node "$duck/duck.mjs" "COPY (SELECT * FROM read_csv('$csv', header=true)) TO '$pq' (FORMAT parquet)" >/dev/null
fi
formats="csv ndjson"
[ -s "$pq" ] && formats+=" parquet"

# Warm the page cache.
cat "$csv" "$nd" >/dev/null
[ -s "$pq" ] && cat "$pq" >/dev/null

declare -A SQL=(
	[Q1]="SELECT COUNT(*) FROM S3Object"
	[Q2]="SELECT s.name, s.city FROM S3Object s WHERE CAST(s.age AS INT) > 60"
	[Q3]="SELECT SUM(CAST(s.score AS FLOAT)), AVG(CAST(s.score AS FLOAT)) FROM S3Object s WHERE s.city = 'Paris'"
	[Q4]="SELECT s.id, s.name FROM S3Object s WHERE s.name LIKE 'ali%'"
	[Q5]="SELECT * FROM S3Object"
)
duck_sql() { # fmt query
	local src
	case $1 in
	csv) src="read_csv('$csv', header=true)" ;;
	parquet) src="read_parquet('$pq')" ;;
	*) src="read_json('$nd', format='newline_delimited')" ;;
	esac
	case $2 in
	Q1) echo "SELECT count(*) FROM $src" ;;
	Q2) echo "COPY (SELECT name, city FROM $src WHERE age > 60) TO '/dev/null' (FORMAT csv)" ;;
	Q3) echo "SELECT sum(score), avg(score) FROM $src WHERE city = 'Paris'" ;;
	Q4) echo "COPY (SELECT id, name FROM $src WHERE name LIKE 'ali%') TO '/dev/null' (FORMAT csv)" ;;
	Q5) echo "COPY (SELECT * FROM $src) TO '/dev/null' (FORMAT csv)" ;;
	esac
}
mlr_args() { # fmt query
	local io
	if [ "$1" = csv ]; then io="--icsv --ocsv"; else io="--ijsonl --ocsv"; fi
	case $2 in
	Q1) echo "$io count" ;;
	Q2) echo "$io filter \$age>60 then cut -o -f name,city" ;;
	Q3) echo "$io filter \$city==\"Paris\" then stats1 -a sum,mean -f score" ;;
	Q4) echo "$io filter \$name=~\"^ali\" then cut -o -f id,name" ;;
	Q5) echo "$io cat" ;;
	esac
}

# measure1 CMD... -> "seconds maxrss_kib"
measure1() {
	/usr/bin/time -f '%e %M' -o "$dir/time.out" "$@" >/dev/null 2>"$dir/err.out" ||
		{ echo "FAILED: $*" >&2; cat "$dir/err.out" >&2; }
	tail -1 "$dir/time.out"
}

# measure CMD... -> "median_seconds max_rss_kib" over $rounds runs
measure() {
	local i out=""
	for ((i = 0; i < rounds; i++)); do
		out+="$(measure1 "$@")"$'\n'
	done
	# Sorted by time: the middle line's time, the largest RSS.
	printf '%s' "$out" | sort -n -k1,1 | awk 'NF == 2 { s[n++] = $1; if ($2 > r) r = $2 }
		END { if (!n) exit
		      m = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
		      printf "%.2f %d\n", m, r }'
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); rounds: $rounds (median)"
printf '%-7s %-3s %-8s %8s %10s %9s %9s\n' format q engine seconds "MB/s" "vs duckdb" "RSS MiB"
fail=0
for fmt in $formats; do
	case $fmt in
	csv) file=$csv; args=(--header) ;;
	ndjson) file=$nd; args=(--json-lines) ;;
	parquet) file=$pq; args=(--input-serialization '{"Parquet":{}}') ;;
	esac
	size=$(stat -c %s "$file")
	read -r wcs wcr < <(measure wc -l "$file")
	for q in Q1 Q2 Q3 Q4 Q5; do
		read -r ss sr < <(measure "$sel" "$file" "${SQL[$q]}" "${args[@]}")
		ds=""; dr=""; ms=""; mr=""
		if [ -n "$duck" ]; then
			read -r ds dr < <(measure node "$duck/duck.mjs" "$(duck_sql $fmt $q)")
		fi
		if [ -n "$mlr" ] && [ $fmt != parquet ]; then
			# shellcheck disable=SC2046
			read -r ms mr < <(measure1 $mlr $(mlr_args $fmt $q) "$file")
		fi
		for e in bucketfs duckdb miller wc; do
			case $e in
			bucketfs) s=$ss r=$sr ;;
			duckdb) s=$ds r=$dr ;;
			miller) s=$ms r=$mr ;;
			wc) [ $q = Q1 ] && [ $fmt != parquet ] || continue; s=$wcs r=$wcr ;;
			esac
			[ -n "$s" ] || continue
			mbs=$(awk -v b="$size" -v s="$s" 'BEGIN{printf "%.0f", (s > 0 ? b / 1e6 / s : 0)}')
			ratio="-"
			# Under the 10 ms resolution of time(1): a lower bound.
			[ -n "$ds" ] && ratio=$(awk -v d="$ds" -v s="$s" 'BEGIN{if (s > 0) printf "%.2fx", d / s; else printf ">%.0fx", d / 0.01}')
			printf '%-7s %-3s %-8s %8s %10s %9s %9.1f\n' $fmt $q $e "$s" "$mbs" "$ratio" \
				"$(awk -v r="$r" 'BEGIN{print r/1024}')"
		done
		# Q5 (SELECT *, every field of every record to CSV) is not in
		# issue 5's bars: it is printed for the record.
		if [ -n "$ds" ] && [ $fmt != parquet ] && [ $q != Q5 ] &&
			awk -v d="$ds" -v s="$ss" 'BEGIN{exit !(s > 0 && d / s < 2)}'; then
			echo "  bar missed: $fmt $q is not 2x DuckDB" ; fail=1
		fi
		if awk -v r="$sr" 'BEGIN{exit !(r > 65536)}'; then
			echo "  bar missed: $fmt $q peak RSS over 64 MiB"; fail=1
		fi
	done
done
echo "data: $rows rows; CSV $(stat -c %s "$csv") bytes, NDJSON $(stat -c %s "$nd") bytes${pq:+, Parquet $(stat -c %s "$pq" 2>/dev/null) bytes}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
