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

describe('ConnectTimeoutClient', () => {
  it('bounds its connection and keeps a password given as pg-pool passes it (not enumerable)', async () => {
    const { ConnectTimeoutClient, PG_CONNECT_TIMEOUT_MS } = await import('./data-source.js');
    const options = { host: '127.0.0.1', user: 'app' };
    Object.defineProperty(options, 'password', { value: 's3cret', enumerable: false });

    const client = new ConnectTimeoutClient(options) as unknown as { password: string; _connectionTimeoutMillis: number };

    expect(client.password).toBe('s3cret');
    expect(client._connectionTimeoutMillis).toBe(PG_CONNECT_TIMEOUT_MS);
  });
});
