import pg from 'pg';
import net from 'node:net';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { inject } from 'vitest';

describe('data-source', () => {
  it("changes no process-wide pg setting when imported and used (other pg users keep pg's defaults)", async () => {
    const timestampParser = pg.types.getTypeParser(pg.types.builtins.TIMESTAMP);
    const timestamptzParser = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ);
    const defaults = { ...pg.defaults };

    const { buildDataSourceOptions } = await import('./data-source.js');
    buildDataSourceOptions({ type: 'postgres', url: 'postgres://localhost/none' } as never);

    expect(pg.defaults.parseInputDatesAsUTC).toBe(false);
    expect({ ...pg.defaults }).toEqual(defaults);
    expect(pg.types.getTypeParser(pg.types.builtins.TIMESTAMP)).toBe(timestampParser);
    expect(pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ)).toBe(timestamptzParser);
    // pg's own parser for `timestamp without time zone` reads the local zone: nothing replaced it.
    expect(pg.types.getTypeParser(pg.types.builtins.TIMESTAMP)('2030-01-15 13:30:00')).toEqual(new Date(2030, 0, 15, 13, 30));
  });
});

describe('the PostgreSQL pool', () => {
  it('gives up on a connection the server never answers after PG_CONNECT_TIMEOUT_MS (pg would wait for ever)', async () => {
    const { buildDataSourceOptions, PG_CONNECT_TIMEOUT_MS } = await import('./data-source.js');
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const dataSource = new DataSource(
        buildDataSourceOptions({ type: 'postgres', url: `postgres://postgres@127.0.0.1:${port}/test` } as never),
      );
      const outcome = await Promise.race([
        dataSource.initialize().then(
          () => 'connected',
          (error: unknown) => (error instanceof Error ? error.message : String(error)),
        ),
        new Promise((resolve) => setTimeout(() => resolve('hung'), PG_CONNECT_TIMEOUT_MS + 10_000)),
      ]);
      expect(sockets.size).toBeGreaterThan(0);
      expect(outcome).toMatch(/timeout/i);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);
});

const postgresUrl = inject('postgresUrl');
describe.skipIf(!postgresUrl)('the PostgreSQL pool, on a server', () => {
  it('lets a query wait longer than PG_CONNECT_TIMEOUT_MS for a free connection (only opening one is bounded)', async () => {
    const { buildDataSourceOptions, PG_CONNECT_TIMEOUT_MS } = await import('./data-source.js');
    const options = buildDataSourceOptions({ type: 'postgres', url: postgresUrl! } as never) as { extra: Record<string, unknown> };
    const dataSource = new DataSource({
      ...(options as never as DataSourceOptions),
      // One connection: the second query waits for the first one's.
      extra: { ...options.extra, max: 1 },
    } as DataSourceOptions);
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
