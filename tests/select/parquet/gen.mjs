// gen.mjs - how the Parquet fixtures of tests/select/parquet/ were made.
//
// They are written by DuckDB, a Parquet implementation independent of
// ours, and committed: the tests need no npm.  To make them again:
//   mkdir /tmp/duck && cd /tmp/duck && npm init -y &&
//     npm install @duckdb/node-api
//   cp tests/select/parquet/gen.mjs /tmp/duck && node /tmp/duck/gen.mjs DIR
import { DuckDBInstance } from '@duckdb/node-api';
import { writeFileSync } from 'node:fs';
const dir = process.argv[2] ?? '.';
const db = await DuckDBInstance.create(':memory:', { threads: '1' });
const con = await db.connect();

// 20 rows, every scalar type S3 Select maps, NULLs in every column.
await con.run(`CREATE TABLE t AS SELECT
  i::INTEGER AS id,
  CASE WHEN i % 7 = 3 THEN NULL ELSE ['alice','bob','carol','dave','eve'][1 + i % 5] || i END AS name,
  ['Paris','Oslo','Lima'][1 + i % 3] AS city,
  CASE WHEN i % 6 = 5 THEN NULL ELSE (20 + i)::SMALLINT END AS age,
  CASE WHEN i % 8 = 4 THEN NULL ELSE i * 1.25 END::DOUBLE AS score,
  TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i * 3601) + to_microseconds(i * 1500) AS ts,
  CASE WHEN i % 9 = 8 THEN NULL ELSE DATE '2023-12-30' + i::INTEGER END AS d,
  (i * 12.34 - 50)::DECIMAL(10,2) AS price,
  CASE WHEN i % 5 = 2 THEN NULL ELSE i % 2 = 0 END AS flag,
  (i::BIGINT * 1000000007 - 3000000000) AS big,
  i::TINYINT AS tiny,
  i::REAL / 4 AS f32,
  (i * 1234567.891)::DECIMAL(20,3) AS wide,
  CASE WHEN i % 4 = 0 THEN 'x' ELSE 'x' || repeat('é', i % 4) END AS utf
  FROM range(20) r(i)`);
const basic = 'SELECT * FROM t ORDER BY id';
// (DuckDB's 'lz4' is LZ4_RAW too.)
for (const c of ['snappy', 'uncompressed', 'gzip', 'zstd', 'brotli', 'lz4_raw'])
  await con.run(`COPY (${basic}) TO '${dir}/basic-${c}.parquet'
    (FORMAT parquet, COMPRESSION ${c}, ROW_GROUP_SIZE 8)`);
// Format version 2: DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY,
// BYTE_STREAM_SPLIT and data pages v2.
await con.run(`COPY (${basic}) TO '${dir}/basic-v2.parquet'
  (FORMAT parquet, PARQUET_VERSION v2, ROW_GROUP_SIZE 8)`);
// Timestamp units and time zones.
await con.run(`COPY (SELECT i::INTEGER AS id,
    (TIMESTAMP '2020-02-29 23:59:58.123' + to_seconds(i))::TIMESTAMP_MS AS ms,
    (TIMESTAMP '2020-02-29 23:59:58' + to_microseconds(i * 7))::TIMESTAMP_NS AS ns,
    (TIMESTAMPTZ '2021-06-01 12:00:00+00' + to_minutes(i))::TIMESTAMPTZ AS tz
  FROM range(3) r(i)) TO '${dir}/times.parquet' (FORMAT parquet)`);
// Many rows, few distinct strings: dictionary pages, several data pages.
await con.run(`COPY (SELECT i::BIGINT AS id, ['red','green','blue','cyan'][1 + i % 4] AS colour,
    (i % 100)::INTEGER AS pct, CASE WHEN i % 1000 = 999 THEN NULL ELSE i / 3.0 END::DOUBLE AS third
  FROM range(100000) r(i)) TO '${dir}/many.parquet'
  (FORMAT parquet, ROW_GROUP_SIZE 30000)`);
// Lists (S3 Select returns them as JSON arrays) and a struct.
await con.run(`COPY (SELECT i::INTEGER AS id,
    CASE WHEN i = 2 THEN NULL WHEN i = 3 THEN [] ELSE [i, i + 1, NULL, i * 10] END AS nums,
    ['a' || i, 'b'] AS tags,
    {'x': i, 'y': 'p' || i} AS pt
  FROM range(5) r(i)) TO '${dir}/nested.parquet' (FORMAT parquet)`);
// Maps (JSON objects), with string and integer keys, NULL and empty
// maps, NULL values; and a list of structs, which S3 Select does not read.
await con.run(`COPY (SELECT i::INTEGER AS id,
    CASE WHEN i = 1 THEN NULL WHEN i = 2 THEN MAP {}::MAP(VARCHAR, INTEGER)
         ELSE MAP {'a': i, 'b': NULL, 'c"q': i * 2} END AS sm,
    MAP {i: 'v' || i} AS im,
    [{'p': i}] AS deep
  FROM range(4) r(i)) TO '${dir}/maps.parquet' (FORMAT parquet)`);
// No rows at all.
await con.run(`COPY (SELECT 1::INTEGER AS id, 'a' AS name WHERE false)
  TO '${dir}/empty.parquet' (FORMAT parquet)`);

// The deprecated LZ4 codec (5), which DuckDB does not write: one REQUIRED
// INT32 column v = 0..999, PLAIN, in one data page compressed the way
// parquet-mr's Hadoop codec frames LZ4 (big-endian uncompressed and
// compressed sizes before each block; two blocks here), and the same as
// one bare LZ4 block, as other writers did.  Written by hand: the Thrift
// compact protocol and LZ4 blocks of literals only (valid LZ4, no
// matches), small enough to check against parquet.thrift by eye.  (The
// same writer with codec LZ4_RAW or UNCOMPRESSED gives files DuckDB reads
// as 1000 rows summing to 499500; DuckDB does not read codec 5.)
function lz4Literals(data) { // one LZ4 block: a single literal run
  const out = [];
  const n = data.length;
  out.push((n >= 15 ? 15 : n) << 4);
  if (n >= 15) {
    let rest = n - 15;
    while (rest >= 255) { out.push(255); rest -= 255; }
    out.push(rest);
  }
  return Buffer.concat([Buffer.from(out), data]);
}
function be32(v) { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; }
function hadoopLz4(data, blocks) {
  const parts = [], step = Math.ceil(data.length / blocks);
  for (let at = 0; at < data.length; at += step) {
    const raw = data.subarray(at, at + step), c = lz4Literals(raw);
    parts.push(be32(raw.length), be32(c.length), c);
  }
  return Buffer.concat(parts);
}
class Compact { // Thrift compact protocol, just what a footer needs
  constructor() { this.b = []; this.last = [0]; }
  varint(v) { v = BigInt(v); do { let x = Number(v & 0x7fn); v >>= 7n; this.b.push(v ? x | 0x80 : x); } while (v); }
  zz(v) { v = BigInt(v); this.varint(v >= 0n ? v << 1n : ((-v) << 1n) - 1n); }
  field(id, type) { this.b.push(((id - this.last.at(-1)) << 4) | type); this.last[this.last.length - 1] = id; }
  i32(id, v) { this.field(id, 5); this.zz(v); }
  i64(id, v) { this.field(id, 6); this.zz(v); }
  bin(id, s) { this.field(id, 8); const d = Buffer.from(s); this.varint(d.length); this.b.push(...d); }
  begin(id) { this.field(id, 12); this.last.push(0); }
  end() { this.b.push(0); this.last.pop(); }
  list(id, type, n) { this.field(id, 9); this.b.push((n << 4) | type); }
  elem() { this.last.push(0); } // a struct element of a list
  buf() { return Buffer.from(this.b); }
}
function lz4File(path, body, values, plain) {
  const ph = new Compact(); // PageHeader
  ph.i32(1, 0); ph.i32(2, plain.length); ph.i32(3, body.length);
  ph.begin(5); ph.i32(1, values); ph.i32(2, 0); ph.i32(3, 3); ph.i32(4, 3); ph.end();
  ph.b.push(0);
  const page = Buffer.concat([ph.buf(), body]), off = 4;
  const fm = new Compact(); // FileMetaData
  fm.i32(1, 1);
  fm.list(2, 12, 2);
  fm.elem(); fm.bin(4, 'schema'); fm.i32(5, 1); fm.end();
  fm.elem(); fm.i32(1, 1); fm.i32(3, 0); fm.bin(4, 'v'); fm.end();
  fm.i64(3, values);
  fm.list(4, 12, 1);
  fm.elem();
  fm.list(1, 12, 1);
  fm.elem(); fm.i64(2, off);
  fm.begin(3);
  fm.i32(1, 1); fm.list(2, 5, 1); fm.zz(0); fm.list(3, 8, 1); fm.varint(1); fm.b.push(0x76);
  fm.i32(4, 5); fm.i64(5, values); fm.i64(6, plain.length + ph.b.length);
  fm.i64(7, page.length); fm.i64(9, off);
  fm.end();
  fm.end(); // ColumnChunk
  fm.i64(2, page.length); fm.i64(3, values);
  fm.end(); // RowGroup
  fm.b.push(0);
  const footer = fm.buf(), len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length);
  writeFileSync(path, Buffer.concat([Buffer.from('PAR1'), page, footer, len, Buffer.from('PAR1')]));
}
{
  const plain = Buffer.alloc(4000);
  for (let i = 0; i < 1000; i++) plain.writeInt32LE(i, 4 * i);
  lz4File(`${dir}/lz4-hadoop.parquet`, hadoopLz4(plain, 2), 1000, plain);
  lz4File(`${dir}/lz4-bare.parquet`, lz4Literals(plain), 1000, plain);
}
