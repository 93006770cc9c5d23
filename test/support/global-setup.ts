import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = 'redis://127.0.0.1:6379';
const CHROMIUM_PATH = '/usr/bin/chromium';

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

/** A bare PING over the Redis protocol: no client library needed to decide whether the suites run. */
function probeRedis(url: string): Promise<string | null> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (problem: string | null) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(2000, () => done('no answer within 2 s'));
    socket.once('error', (error) => done(error.message));
    socket.once('data', (data) =>
      done(data.toString().startsWith('+PONG') ? null : `unexpected answer ${JSON.stringify(data.toString())}`),
    );
    socket.connect(Number(port || 6379), hostname, () => socket.write('PING\r\n'));
  });
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | null;
    redisUrl: string | null;
    chromiumPath: string | null;
  }
}

/**
 * Decides once per run which optional halves of the suite run: the PostgreSQL half of the end-to-end matrix,
 * the suites that need Redis, and the browser test. Without a server (or Chromium) those suites are skipped with
 * the reason printed; REQUIRE_POSTGRES=1, REQUIRE_REDIS=1 and REQUIRE_BROWSER=1 (CI) turn a skip into a failure.
 */
export default async function setup(project: TestProject): Promise<void> {
  // The one place tests read the environment directly: which servers to use, and whether they must exist.
  const require = (name: string, what: string, location: string, problem: string | null) => {
    if (!problem) return;
    if (process.env[name] === '1') throw new Error(`${name}=1 but ${what} at ${location} is not usable: ${problem}`);
    console.warn(`\n[e2e] ${what} suites SKIPPED: ${location} is not usable (${problem}).\n`);
  };

  const postgresUrl = process.env.TEST_POSTGRES_URL || POSTGRES_URL;
  const postgresProblem = await probePostgres(postgresUrl);
  require('REQUIRE_POSTGRES', 'PostgreSQL', postgresUrl, postgresProblem);
  project.provide('postgresUrl', postgresProblem ? null : postgresUrl);

  const redisUrl = process.env.TEST_REDIS_URL || REDIS_URL;
  const redisProblem = await probeRedis(redisUrl);
  require('REQUIRE_REDIS', 'Redis', redisUrl, redisProblem);
  project.provide('redisUrl', redisProblem ? null : redisUrl);

  const chromiumPath = process.env.TEST_CHROMIUM_PATH || CHROMIUM_PATH;
  const chromiumProblem = existsSync(chromiumPath) ? null : 'not installed (apt-get install chromium)';
  require('REQUIRE_BROWSER', 'Browser (Chromium)', chromiumPath, chromiumProblem);
  project.provide('chromiumPath', chromiumProblem ? null : chromiumPath);
}
