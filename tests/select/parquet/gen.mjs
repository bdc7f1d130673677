// gen.mjs - how the Parquet fixtures of tests/select/parquet/ were made.
//
// They are written by DuckDB, a Parquet implementation independent of
// ours, and committed: the tests need no npm.  To make them again:
//   mkdir /tmp/duck && cd /tmp/duck && npm init -y &&
//     npm install @duckdb/node-api
//   cp tests/select/parquet/gen.mjs /tmp/duck && node /tmp/duck/gen.mjs DIR
import { DuckDBInstance } from '@duckdb/node-api';
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
for (const c of ['snappy', 'uncompressed', 'gzip', 'zstd'])
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
