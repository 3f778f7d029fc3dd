// Reads a composed dataset back with DuckDB (not written by polyglot) and
// prints, as JSON, the schema and the rows per language and split of the
// Parquet files and of the JSONL files. Usage: node read.mjs DATASET_DIR
import { DuckDBInstance } from '@duckdb/node-api';

const dir = process.argv[2];
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
const q = async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJson();
const lit = (s) => "'" + s.replaceAll("'", "''") + "'";
const out = {};
for (const [name, from] of [
  ['parquet', `read_parquet(${lit(dir + '/data/*/*.parquet')})`],
  ['jsonl', `read_json(${lit(dir + '/data/*/*.jsonl')}, format = 'newline_delimited')`],
]) {
  out[name] = {
    schema: await q(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${from})`),
    counts: await q(`SELECT language, split, teacher, count(*)::INTEGER AS n FROM ${from} GROUP BY ALL ORDER BY ALL`),
    // The chat turns and provenance as a trainer would read them.
    first: await q(`SELECT messages[1].role AS role0, messages[-1].role AS role_last, len(metrics)::INTEGER AS metrics, seed_row FROM ${from} ORDER BY id LIMIT 1`),
  };
}
console.log(JSON.stringify(out));
