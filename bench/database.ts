/** Databases for the benchmark passes: a SQLite file, or a PostgreSQL database created and dropped here. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { onCleanup } from './processes.js';

/** A fresh database for one pass, or why PostgreSQL is skipped (not reachable). */
export async function createDatabase(
  kind: 'sqlite' | 'postgres',
  dir: string,
  adminUrl: string,
): Promise<{ url: string } | { skipped: string }> {
  if (kind === 'sqlite') return { url: `sqlite:${join(dir, 'bench.sqlite')}` };
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch (error) {
    await admin.end().catch(() => undefined);
    return { skipped: `${adminUrl} is not reachable (${error instanceof Error ? error.message || String(error) : String(error)})` };
  }
  const name = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  onCleanup(async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString() };
}
