import pg from 'pg';

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

describe('BoundedPgClient', () => {
  it('bounds its connection and keeps a password given as pg-pool passes it (not enumerable)', async () => {
    const { BoundedPgClient, PG_CONNECT_TIMEOUT_MS } = await import('./data-source.js');
    const options = { host: '127.0.0.1', user: 'app' };
    Object.defineProperty(options, 'password', { value: 's3cret', enumerable: false });

    const client = new BoundedPgClient(options) as unknown as { password: string; _connectionTimeoutMillis: number };

    expect(client.password).toBe('s3cret');
    expect(client._connectionTimeoutMillis).toBe(PG_CONNECT_TIMEOUT_MS);
  });
});

describe('QueryTimeout', () => {
  it('is the configured bound, none while suspended (nested), and back after a suspension that failed', async () => {
    const { QueryTimeout } = await import('./data-source.js');
    const timeout = new QueryTimeout(2000);
    expect(timeout.current).toBe(2000);
    const inside: number[] = [];
    await timeout.suspendedDuring(async () => {
      inside.push(timeout.current);
      await timeout.suspendedDuring(async () => inside.push(timeout.current));
      inside.push(timeout.current);
    });
    expect(inside).toEqual([0, 0, 0]);
    await expect(timeout.suspendedDuring(() => Promise.reject(new Error('migration failed')))).rejects.toThrow('migration failed');
    expect(timeout.current).toBe(2000);
  });

  it('reaches the pool through the options buildDataSourceOptions builds (PostgreSQL only)', async () => {
    const { buildDataSourceOptions, queryTimeoutOf, BoundedPgClient } = await import('./data-source.js');
    const options = buildDataSourceOptions({ type: 'postgres', url: 'postgres://localhost/none', queryTimeoutMs: 1234 });
    expect(queryTimeoutOf(options)?.current).toBe(1234);
    expect((options as { extra: { Client: unknown } }).extra.Client).toBe(BoundedPgClient);
    expect(queryTimeoutOf(buildDataSourceOptions({ type: 'sqlite', path: ':memory:' }))).toBeUndefined();
  });
});
