import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../src/database/migrations/index.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from './support/databases.js';
import { LogCapture } from './support/log-capture.js';
import { ROOT_EMAIL, ROOT_PASSWORD, TestApp } from './support/test-app.js';

const CLIENT_A = '203.0.113.7';
const CLIENT_B = '198.51.100.9';
const CLIENT_ROOT = '192.0.2.44';

type Answer = { status: number; body: { items?: { ip: string | null; action: string }[] } };

/**
 * Fails sign-ins from one client (unknown emails, so only the per-IP limit can trip) until the
 * service answers 429; returns how many 401s came first. Independent of how the throttle counts.
 */
async function throttle(app: TestApp, forwardedFor: string): Promise<number> {
  for (let attempt = 0; attempt < 12; attempt++) {
    const res = await wrongLogin(app, forwardedFor);
    if (res.status === 429) return attempt;
    expect(res.status).toBe(401);
  }
  throw new Error(`no 429 after 12 failed sign-ins from ${forwardedFor}`);
}

function wrongLogin(app: TestApp, forwardedFor: string) {
  const email = `nobody-${randomBytes(4).toString('hex')}@example.test`;
  return app.http.post('/api/auth/login').set('X-Forwarded-For', forwardedFor).send({ email, password: 'wrong-password-1234' });
}

async function rootLoginFrom(app: TestApp, forwardedFor: string): Promise<string> {
  const res = await app.http
    .post('/api/auth/login')
    .set('X-Forwarded-For', forwardedFor)
    .send({ email: ROOT_EMAIL, password: ROOT_PASSWORD });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

async function journalIps(app: TestApp, token: string, action: string): Promise<(string | null)[]> {
  const res: Answer = await app.http.get(`/api/audit?action=${action}&limit=100`).set('Authorization', `Bearer ${token}`);
  expect(res.status).toBe(200);
  return res.body.items!.map((entry) => entry.ip);
}

// Settings that make only the per-IP sign-in limit matter.
const THROTTLE = { LOGIN_MAX_ATTEMPTS_PER_IP: '3', LOGIN_MAX_ATTEMPTS: '1000' };

describeEachDatabase('TRUST_PROXY', (kind) => {
  describe('set to the proxy addresses (here loopback, where the test client connects from)', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await TestApp.start(kind, { ...THROTTLE, TRUST_PROXY: '127.0.0.1/8,::1' });
    });
    afterAll(() => app?.close());

    it('throttles each X-Forwarded-For client separately and journals the forwarded IP', async () => {
      expect(await throttle(app, CLIENT_A)).toBeGreaterThan(0);
      // Client A is locked out; client B, behind the same proxy, is not.
      expect((await wrongLogin(app, CLIENT_A)).status).toBe(429);
      expect((await wrongLogin(app, CLIENT_B)).status).toBe(401);

      const token = await rootLoginFrom(app, CLIENT_ROOT);
      expect(await journalIps(app, token, 'login_success')).toEqual([CLIENT_ROOT]);
      const failures = await journalIps(app, token, 'login_failure');
      expect(failures).toContain(CLIENT_A);
      expect(failures).toContain(CLIENT_B);
      expect(failures.every((ip) => ip === CLIENT_A || ip === CLIENT_B)).toBe(true);
    });

    it('counts the addresses of one IPv6 /64 as one client (the journal keeps each address)', async () => {
      expect(await throttle(app, '2001:db8:1:2::a')).toBeGreaterThan(0);
      // Another address of the same /64 is the same client: refused too.
      expect((await wrongLogin(app, '2001:db8:1:2:ffff::1')).status).toBe(429);
      // Another /64 is another client.
      expect((await wrongLogin(app, '2001:db8:1:3::a')).status).toBe(401);
      const token = await rootLoginFrom(app, CLIENT_ROOT);
      expect(await journalIps(app, token, 'login_failure')).toContain('2001:db8:1:2::a');
    });

    it("journals a forwarded 'address' that is not an IP as not-an-ip: a 401, never a 500 from the 64-character column", async () => {
      const bogus = `${'x'.repeat(200)}`;
      expect((await wrongLogin(app, bogus)).status).toBe(401);
      // An IPv6 zone id is an IP to node:net at any length.
      expect((await wrongLogin(app, `fe80::1%${'a'.repeat(60)}`)).status).toBe(401);
      const token = await rootLoginFrom(app, CLIENT_ROOT);
      expect(await journalIps(app, token, 'login_failure')).toContain('not-an-ip');
    });

    it('takes the client nearest the trusted proxy, not a spoofed first entry', async () => {
      // "spoofed, real" arrives when a client sends its own X-Forwarded-For through the proxy.
      const token = await rootLoginFrom(app, `10.9.9.9, ${CLIENT_ROOT}`);
      const ips = await journalIps(app, token, 'login_success');
      expect(ips[0]).toBe(CLIENT_ROOT);
    });
  });

  describe('set, with the sign-in limits on an account (LOGIN_MAX_ATTEMPTS from one address, LOGIN_MAX_ATTEMPTS_PER_ACCOUNT from all)', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await TestApp.start(kind, { TRUST_PROXY: '127.0.0.1/8,::1', LOGIN_MAX_ATTEMPTS: '5', LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '12' });
    });
    afterAll(() => app?.close());

    const guess = (forwardedFor: string) =>
      app.http.post('/api/auth/login').set('X-Forwarded-For', forwardedFor).send({ email: ROOT_EMAIL, password: 'wrong-password-1234' });

    it("someone guessing the superadmin's password from one address does not lock its owner out; guesses from many lock new addresses only", async () => {
      for (let i = 0; i < 5; i++) expect((await guess(CLIENT_A)).status).toBe(401);
      expect((await guess(CLIENT_A)).status).toBe(429);
      // The owner, elsewhere, signs in.
      const token = await rootLoginFrom(app, CLIENT_ROOT);
      // Seven more guesses, one from each of seven other addresses: twelve on the account in all.
      for (let i = 0; i < 7; i++) expect((await guess(`198.51.100.${i + 10}`)).status).toBe(401);
      // Locked from any new address, even with the right password…
      const locked = await app.http
        .post('/api/auth/login')
        .set('X-Forwarded-For', '192.0.2.77')
        .send({ email: ROOT_EMAIL, password: ROOT_PASSWORD });
      expect(locked.status).toBe(429);
      expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
      // …but not from where the owner signed in: the guesses from everywhere cannot keep it out there.
      await rootLoginFrom(app, CLIENT_ROOT);
      const throttled = await app.http
        .get('/api/audit?action=login_throttled&limit=10')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
      expect(throttled.body.items.map((e: { metadata: { limits: string[] } }) => e.metadata.limits)).toEqual(
        expect.arrayContaining([['account'], ['account_all']]),
      );
    });
  });

  describe('unset (the default)', () => {
    let app: TestApp;
    const logs = new LogCapture();
    beforeAll(async () => {
      app = await TestApp.start(kind, { ...THROTTLE, LOG_LEVEL: 'warn' }, undefined, { logDestination: logs });
    });
    afterAll(() => app?.close());

    it('ignores X-Forwarded-For: every client shares the peer address, throttle and journal alike', async () => {
      const token = await rootLoginFrom(app, CLIENT_ROOT);
      const [ip] = await journalIps(app, token, 'login_success');
      expect(ip).not.toBe(CLIENT_ROOT);
      expect(ip).toMatch(/127\.0\.0\.1|::1/);

      expect(await throttle(app, CLIENT_A)).toBeGreaterThan(0);
      // The header is not believed, so "another client" is the same one and is locked out too.
      expect((await wrongLogin(app, CLIENT_B)).status).toBe(429);
      const failures = await journalIps(app, token, 'login_failure');
      expect(failures.length).toBeGreaterThan(0);
      expect(failures).not.toContain(CLIENT_A);
      expect(failures).not.toContain(CLIENT_B);
      // The operator is told, once, that a proxy is there and TRUST_PROXY is off.
      const warnings = logs.lines.filter((line) => String(line.msg).includes('TRUST_PROXY is off'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 40, context: 'Http' });
    });
  });
});

/** How many times each migration is recorded in the database's migrations table. */
async function migrationCounts(db: TestDatabase): Promise<Map<string, number>> {
  const dataSource =
    db.kind === 'postgres'
      ? new DataSource({ type: 'postgres', url: db.url })
      : new DataSource({ type: 'better-sqlite3', database: db.url.slice('sqlite:'.length) });
  await dataSource.initialize();
  try {
    const rows: { name: string; n: number | string }[] = await dataSource.query('SELECT name, COUNT(*) AS n FROM migrations GROUP BY name');
    return new Map(rows.map((row) => [row.name, Number(row.n)]));
  } finally {
    await dataSource.destroy();
  }
}

describeEachDatabase('Instances booting together on one empty database', (kind) => {
  const INSTANCES = 3;
  let db: TestDatabase;
  const apps: TestApp[] = [];
  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await db?.drop();
  });

  // Within seconds: a waiting instance polls the SQLite lock file without blocking its event loop (a
  // synchronous 5 s busy wait per poll once made three instances in one process take 70 s or fail).
  it('all start within seconds, and each migration is applied once', async () => {
    const results = await Promise.allSettled(Array.from({ length: INSTANCES }, () => TestApp.start(kind, {}, db)));
    for (const result of results) if (result.status === 'fulfilled') apps.push(result.value);
    const failures = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
    expect(failures).toEqual([]);

    const counts = await migrationCounts(db);
    expect([...counts.keys()].sort()).toEqual(MIGRATIONS.map((migration) => migration.name).sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    // Every instance serves, on the same single superadmin.
    for (const app of apps) {
      const token = await app.rootToken();
      expect((await app.http.get('/api/auth/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    }
  }, 30_000);

  it.runIf(kind === 'postgres')('releases the advisory lock after migrating', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });
});
