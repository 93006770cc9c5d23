import pg from 'pg';
import type { TestProject } from 'vitest/node';

const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

async function probePostgres(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | null;
  }
}

/**
 * Decides once per run whether the PostgreSQL half of the end-to-end matrix runs. Without a server the
 * suites are skipped with the reason printed; with REQUIRE_POSTGRES=1 (CI) a missing server fails the run.
 */
export default async function setup(project: TestProject): Promise<void> {
  // The one place tests read the environment directly: which server to use, and whether it must exist.
  const url = process.env.TEST_POSTGRES_URL || POSTGRES_URL;
  const problem = await probePostgres(url);
  if (problem) {
    if (process.env.REQUIRE_POSTGRES === '1') {
      throw new Error(`REQUIRE_POSTGRES=1 but PostgreSQL at ${url} is not reachable: ${problem}`);
    }
    console.warn(`\n[e2e] PostgreSQL suites SKIPPED: ${url} is not reachable (${problem}). SQLite suites still run.\n`);
  }
  project.provide('postgresUrl', problem ? null : url);
}
