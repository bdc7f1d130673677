// duck.mjs - run one SQL statement in DuckDB (2 threads) for the benchmark.
import { DuckDBInstance } from '@duckdb/node-api';
const [sql] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: '2' });
const con = await db.connect();
const r = await con.runAndReadAll(sql);
const rows = r.getRows();
if (rows.length <= 4) console.log(JSON.stringify(rows, (k, v) => typeof v === 'bigint' ? v.toString() : v));
