import { DataSource, type DataSourceOptions } from 'typeorm';
import { inject } from 'vitest';
import { createApp } from '../src/app.factory.js';
import { buildDataSourceOptions, PG_CONNECT_TIMEOUT_MS } from '../src/database/data-source.js';
import { silentServer } from './support/silent-server.js';

/** Resolves with `work`'s outcome (its error's message when it fails), or 'hung' well after the connect timeout. */
const outcomeOf = <T>(work: Promise<T>) =>
  Promise.race([
    work.then(
      (value) => ({ value }),
      (error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }),
    ),
    new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), PG_CONNECT_TIMEOUT_MS + 10_000)),
  ]);

/**
 * A PostgreSQL that accepts connections and never answers (a hung server, a network dropping packets): opening a
 * connection gives up after PG_CONNECT_TIMEOUT_MS (pg has no timeout by default), so the boot fails, saying which
 * server, instead of waiting for ever; an orchestrator then sees the process exit and can restart it. Needs no
 * PostgreSQL.
 */
describe('PostgreSQL that never answers', () => {
  it('fails the boot within the connection timeout, naming the server and not the password', async () => {
    const server = await silentServer();
    try {
      const started = Date.now();
      const outcome = await outcomeOf(
        createApp({
          overrides: { DATABASE_URL: `postgres://postgres:s3cret-pw@127.0.0.1:${server.port}/test`, JWT_SECRET: 'j'.repeat(40) },
          ignoreEnvFile: true,
          logger: ['fatal'],
        }).then(async (app) => {
          await app.close();
          return 'booted';
        }),
      );
      expect(server.accepted, 'the app did connect to it').toBeGreaterThan(0);
      expect(outcome).toMatchObject({ error: expect.stringContaining(`Could not connect to PostgreSQL at 127.0.0.1:${server.port}`) });
      expect(JSON.stringify(outcome)).not.toContain('s3cret-pw');
      expect(Date.now() - started).toBeGreaterThanOrEqual(PG_CONNECT_TIMEOUT_MS - 500);
    } finally {
      await server.close();
    }
  }, 30_000);

  it("gives up on a pooled connection the server never answers (the pool's client)", async () => {
    const server = await silentServer();
    try {
      const dataSource = new DataSource(
        buildDataSourceOptions({ type: 'postgres', url: `postgres://postgres@127.0.0.1:${server.port}/test` }),
      );
      const outcome = await outcomeOf(dataSource.initialize());
      expect(server.accepted).toBeGreaterThan(0);
      expect(outcome).toMatchObject({ error: expect.stringMatching(/timeout/i) });
    } finally {
      await server.close();
    }
  }, 30_000);
});

const postgresUrl = inject('postgresUrl');
describe.skipIf(!postgresUrl)('PostgreSQL busy', () => {
  it('lets a query wait longer than PG_CONNECT_TIMEOUT_MS for a free pooled connection (only opening one is bounded)', async () => {
    const options = buildDataSourceOptions({ type: 'postgres', url: postgresUrl! }) as DataSourceOptions & { extra: object };
    // One connection: the second query waits for the first one's.
    const dataSource = new DataSource({ ...options, extra: { ...options.extra, max: 1 } });
    await dataSource.initialize();
    try {
      const seconds = (PG_CONNECT_TIMEOUT_MS + 1000) / 1000;
      const [, waited] = await Promise.all([dataSource.query(`SELECT pg_sleep(${seconds})`), dataSource.query('SELECT 1 AS one')]);
      expect(waited).toEqual([{ one: 1 }]);
    } finally {
      await dataSource.destroy();
    }
  }, 30_000);
});
