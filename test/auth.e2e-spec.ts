import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { inject, vi } from 'vitest';
import { Role } from '../src/users/role.enum.js';
import { UsersService } from '../src/users/users.service.js';
import { createTestDatabase, describeEachDatabase } from './support/databases.js';
import { ROOT_EMAIL, ROOT_PASSWORD, TestApp, USER_PASSWORD } from './support/test-app.js';

describeEachDatabase('Authentication', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    // At argon2's default cost (the production one), not the token cost of the other suites.
    t = await TestApp.start(kind, {
      LOGIN_MAX_ATTEMPTS: '3',
      LOGIN_MAX_ATTEMPTS_PER_IP: '1000',
      LOGIN_WINDOW_SECONDS: '60',
      PASSWORD_HASH_MEMORY_KIB: '',
      PASSWORD_HASH_ITERATIONS: '',
    });
  });
  afterAll(() => t?.close());

  it('signs in the first superadmin created from ADMIN_EMAIL/ADMIN_PASSWORD', async () => {
    const res = await t.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: ROOT_PASSWORD }).expect(200);
    expect(res.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600 });
    const me = await t.http.get('/api/auth/me').set('Authorization', `Bearer ${res.body.access_token}`).expect(200);
    expect(me.body).toMatchObject({ email: ROOT_EMAIL, role: 'superadmin', disabled: false });
    expect(me.body).not.toHaveProperty('passwordHash');
  });

  it('treats the email case-insensitively', async () => {
    await t.http.post('/api/auth/login').send({ email: ROOT_EMAIL.toUpperCase(), password: ROOT_PASSWORD }).expect(200);
  });

  it('answers a wrong password and an unknown email with the same 401 and message', async () => {
    const wrong = await t.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: 'not-the-password' }).expect(401);
    const unknown = await t.http.post('/api/auth/login').send({ email: 'nobody@example.test', password: 'not-the-password' }).expect(401);
    expect(wrong.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'Invalid email or password' });
    expect(unknown.body).toEqual(wrong.body);
  });

  it('spends about the same time on an unknown email as on a wrong password', async () => {
    const time = async (email: string) => {
      const start = process.hrtime.bigint();
      await t.http.post('/api/auth/login').send({ email, password: 'timing-check-password' });
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    // Distinct emails so the failure throttle does not kick in; medians of three to smooth noise.
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[1];
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      const user = await t.userWithRole(Role.User);
      known.push(await time(user.email));
      unknown.push(await time(`ghost-${i}-${Date.now()}@example.test`));
    }
    // An unknown email still pays for one argon2 verification: same order of magnitude, not ~0 ms.
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.4);
  });

  it('refuses a disabled user at sign-in and revokes the tokens it already had', async () => {
    const user = await t.userWithRole(Role.Admin);
    await t.http.get('/api/auth/me').set('Authorization', `Bearer ${user.token}`).expect(200);
    await t.http
      .patch(`/api/users/${user.id}`)
      .set('Authorization', `Bearer ${await t.rootToken()}`)
      .send({ disabled: true })
      .expect(200);
    const me = await t.http.get('/api/auth/me').set('Authorization', `Bearer ${user.token}`).expect(401);
    expect(me.body.message).toBe('This account is disabled');
    const login = await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(401);
    expect(login.body.message).toBe('This account is disabled');
  });

  it('throttles repeated failures for one email with 429 and Retry-After', async () => {
    const user = await t.userWithRole(Role.User);
    for (let i = 0; i < 3; i++) {
      await t.http.post('/api/auth/login').send({ email: user.email, password: 'wrong-password-here' }).expect(401);
    }
    const res = await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(res.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
  });

  it('rejects a missing, malformed, forged or expired token with 401', async () => {
    expect((await t.http.get('/api/auth/me').expect(401)).body.message).toMatch(/bearer token is required/i);
    await t.http.get('/api/auth/me').set('Authorization', 'Bearer not-a-jwt').expect(401);
    const token = await t.rootToken();
    const [h, p] = token.split('.');
    await t.http.get('/api/auth/me').set('Authorization', `Bearer ${h}.${p}.forged-signature`).expect(401);
    const { JwtService } = await import('@nestjs/jwt');
    const expired = await t.get(JwtService).signAsync({ sub: 'x', email: 'x', role: 'superadmin' }, { expiresIn: -10 });
    const res = await t.http.get('/api/auth/me').set('Authorization', `Bearer ${expired}`).expect(401);
    expect(res.body.message).toMatch(/expired/);
  });

  it('keeps the tokens of each app to itself: two apps in one process, other secrets, one closed', async () => {
    const other = await TestApp.start(kind, { JWT_SECRET: 'another-test-secret-of-at-least-32-characters' });
    let closed = false;
    try {
      const mine = await t.rootToken();
      const theirs = await other.rootToken();
      await other.http.get('/api/auth/me').set('Authorization', `Bearer ${theirs}`).expect(200);
      expect((await other.http.get('/api/auth/me').set('Authorization', `Bearer ${mine}`).expect(401)).body.message).toBe('Invalid token');
      expect((await t.http.get('/api/auth/me').set('Authorization', `Bearer ${theirs}`).expect(401)).body.message).toBe('Invalid token');
      await other.close();
      closed = true;
      // Closing the other app leaves this one's authentication as it was (a process-wide strategy did not).
      await t.http.get('/api/auth/me').set('Authorization', `Bearer ${mine}`).expect(200);
    } finally {
      if (!closed) await other.close();
    }
  });

  it('validates the sign-in body', async () => {
    const res = await t.http.post('/api/auth/login').send({ email: ROOT_EMAIL }).expect(400);
    expect(res.body.details).toEqual([{ field: 'password', problems: expect.any(Array) }]);
  });
});

describeEachDatabase('Authentication: sign-in throttled per IP', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start(kind, { LOGIN_MAX_ATTEMPTS: '5', LOGIN_MAX_ATTEMPTS_PER_IP: '2', LOGIN_WINDOW_SECONDS: '60' });
  });
  afterAll(() => t?.close());

  it('blocks an IP that sprays different emails', async () => {
    await t.http.post('/api/auth/login').send({ email: 'a@example.test', password: 'x' }).expect(401);
    await t.http.post('/api/auth/login').send({ email: 'b@example.test', password: 'x' }).expect(401);
    const res = await t.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: ROOT_PASSWORD }).expect(429);
    expect(res.headers['retry-after']).toBeDefined();
  });
});

describeEachDatabase('Authentication: sign-in throttle under concurrency', (kind) => {
  let t: TestApp;
  /** A superadmin's token, taken before the IP is locked out (sign-ins from it are refused then). */
  let root: string;
  const throttledEntries = async () =>
    (await t.http.get('/api/audit?action=login_throttled&limit=100').set('Authorization', `Bearer ${root}`).expect(200)).body.items as {
      actorId: string | null;
      metadata: Record<string, unknown>;
    }[];
  beforeAll(async () => {
    t = await TestApp.start(kind, { LOGIN_MAX_ATTEMPTS: '5', LOGIN_MAX_ATTEMPTS_PER_IP: '12', LOGIN_WINDOW_SECONDS: '60' });
  });
  afterAll(() => t?.close());

  it('lets at most the limit of 30 concurrent wrong passwords be tried, and answers 429 to the rest', async () => {
    const user = await t.userWithRole(Role.User);
    root = await t.rootToken();
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => t.http.post('/api/auth/login').send({ email: user.email, password: 'wrong-password-here' })),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
    expect(answers.find((r) => r.status === 429)?.headers['retry-after']).toBeDefined();
    // The right password is refused too until the window ends.
    await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(429);
    // The lockout is journaled once (the refusal that first went past the limit), not for each of the 26 refusals.
    const throttled = (await throttledEntries()).filter((e) => e.metadata.email === user.email);
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({ actorId: null, metadata: { limits: ['account'], retryAfterSeconds: expect.any(Number) } });
  });

  it('holds the per-IP limit under concurrency too, and successful sign-ins do not count', async () => {
    // The IP has room for 12 failures; the earlier test used 5 of them, and userWithRole's sign-ins none.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.http.post('/api/auth/login').send({ email: `spray-${i}@example.test`, password: 'wrong-password' }),
      ),
    );
    expect(answers.filter((r) => r.status === 401).length).toBeLessThanOrEqual(12 - 5);
    expect(answers.filter((r) => r.status !== 401 && r.status !== 429)).toEqual([]);
    // The address's lockout is journaled once too.
    expect((await throttledEntries()).filter((e) => (e.metadata.limits as string[]).includes('ip'))).toHaveLength(1);
  });
});

describeEachDatabase('Authentication: sign-in volume per IP (LOGIN_MAX_PER_IP_PER_MINUTE)', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    // Failure limits out of the way: concurrent attempts count against them until their password is checked.
    t = await TestApp.start(kind, { LOGIN_MAX_PER_IP_PER_MINUTE: '5', LOGIN_MAX_ATTEMPTS: '1000', LOGIN_MAX_ATTEMPTS_PER_IP: '1000' });
  });
  afterAll(() => t?.close());

  it('counts successful sign-ins too, under concurrency: 5 of 20 pass, the rest get 429 with Retry-After', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => t.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: ROOT_PASSWORD })),
    );
    expect(answers.filter((r) => r.status === 200)).toHaveLength(5);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(15);
    expect(refused[0].body).toEqual({
      statusCode: 429,
      error: 'Too Many Requests',
      message: expect.stringMatching(/^Too many sign-in requests from this address; try again in \d+ seconds$/),
    });
    const retryAfter = Number(refused[0].headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });
});

const redisUrl = inject('redisUrl');

/**
 * Two apps on one database, sharing Redis under a key prefix of their own (so parallel runs never share
 * counts), removed afterwards. Read `apps.a` / `apps.b` inside the tests.
 */
function twoInstancesOnRedis(kind: 'sqlite' | 'postgres', settings: Record<string, string>): { a: TestApp; b: TestApp } {
  const prefix = `sms-test-${randomBytes(6).toString('hex')}:`;
  const apps = {} as { a: TestApp; b: TestApp };
  beforeAll(async () => {
    const db = await createTestDatabase(kind);
    const env = { ...settings, REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: prefix };
    apps.a = await TestApp.start(kind, env, db);
    apps.b = await TestApp.start(kind, env, db);
  });
  afterAll(async () => {
    await apps.b?.close();
    await apps.a?.close();
    await apps.a?.db.drop();
    const redis = new Redis(redisUrl!);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });
  return apps;
}

describe.skipIf(!redisUrl)('Authentication: two instances share the sign-in volume limit through Redis', () => {
  // The limit does not touch the database: SQLite is enough.
  const apps = twoInstancesOnRedis('sqlite', {
    LOGIN_MAX_PER_IP_PER_MINUTE: '6',
    LOGIN_MAX_ATTEMPTS: '1000',
    LOGIN_MAX_ATTEMPTS_PER_IP: '1000',
  });

  it('lets 6 sign-ins through across both instances, concurrently, then answers 429 on either', async () => {
    const { a, b } = apps;
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 ? a : b).http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: ROOT_PASSWORD }),
      ),
    );
    expect(answers.filter((r) => r.status === 200)).toHaveLength(6);
    expect(answers.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);
    await a.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: ROOT_PASSWORD }).expect(429);
    await b.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: ROOT_PASSWORD }).expect(429);
  });
});

describe.skipIf(!redisUrl)('Authentication: two instances share the sign-in throttle through Redis', () => {
  for (const kind of ['sqlite', ...(inject('postgresUrl') ? ['postgres' as const] : [])] as const) {
    describe(kind, () => {
      const apps = twoInstancesOnRedis(kind, { LOGIN_MAX_ATTEMPTS: '5', LOGIN_MAX_ATTEMPTS_PER_IP: '1000', LOGIN_WINDOW_SECONDS: '60' });

      it('counts failures made on either instance against one limit', async () => {
        const { a, b } = apps;
        const user = await a.userWithRole(Role.User);
        const wrong = (t: TestApp) => t.http.post('/api/auth/login').send({ email: user.email, password: 'wrong-password-here' });
        for (let i = 0; i < 3; i++) await wrong(a).expect(401);
        for (let i = 0; i < 2; i++) await wrong(b).expect(401);
        const res = await wrong(b).expect(429);
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        await a.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(429);
      });

      it('holds the limit across instances under concurrency', async () => {
        const { a, b } = apps;
        const user = await a.userWithRole(Role.User);
        const answers = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            (i % 2 ? a : b).http.post('/api/auth/login').send({ email: user.email, password: 'wrong-password' }),
          ),
        );
        expect(answers.filter((r) => r.status === 401).length).toBeLessThanOrEqual(5);
        expect(answers.filter((r) => r.status !== 401 && r.status !== 429)).toEqual([]);
      });

      it("forgets an email's failures on either instance once it signs in", async () => {
        const { a, b } = apps;
        const user = await a.userWithRole(Role.User);
        const wrong = (t: TestApp) => t.http.post('/api/auth/login').send({ email: user.email, password: 'wrong-password-here' });
        for (let i = 0; i < 4; i++) await wrong(a).expect(401);
        await b.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(200);
        for (let i = 0; i < 5; i++) await wrong(a).expect(401);
        await wrong(b).expect(429);
      });
    });
  }
});

describeEachDatabase('First start without ADMIN_EMAIL / ADMIN_PASSWORD', (kind) => {
  it('creates admin@localhost with a generated password, printed once, that signs in', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn');
    const t = await TestApp.start(kind, { ADMIN_EMAIL: '', ADMIN_PASSWORD: '' });
    try {
      const line = warn.mock.calls.map((c) => String(c[0])).find((m) => m.includes('admin@localhost'));
      const password = /generated password: (\S+)/.exec(line ?? '')?.[1];
      expect(password).toBeDefined();
      await t.http.post('/api/auth/login').send({ email: 'admin@localhost', password }).expect(200);
      expect(warn.mock.calls.filter((c) => String(c[0]).includes(password!))).toHaveLength(1);
    } finally {
      warn.mockRestore();
      await t.close();
    }
  });
});

describeEachDatabase('ADMIN_PASSWORD set once a superadmin exists', (kind) => {
  it("changes no password, and the boot says so unless it is that account's password", async () => {
    const db = await createTestDatabase(kind);
    const other = await createTestDatabase(kind);
    const warn = vi.spyOn(Logger.prototype, 'warn');
    const ignored = () => warn.mock.calls.map((c) => String(c[0])).filter((m) => m.startsWith('ADMIN_PASSWORD is not'));
    try {
      const first = await TestApp.start(kind, { ADMIN_EMAIL: '', ADMIN_PASSWORD: '' }, db);
      await first.close();
      expect(ignored()).toEqual([]);
      // A newcomer who lost the generated password sets ADMIN_PASSWORD and starts again.
      const again = await TestApp.start(kind, { ADMIN_EMAIL: '', ADMIN_PASSWORD: 'my-new-password-123' }, db);
      try {
        await again.http.post('/api/auth/login').send({ email: 'admin@localhost', password: 'my-new-password-123' }).expect(401);
        expect(ignored()).toEqual([expect.stringMatching(/^ADMIN_PASSWORD is not admin@localhost's password/)]);
        expect(ignored()[0]).not.toContain('my-new-password-123');
      } finally {
        await again.close();
      }
      // The usual case: the first superadmin's own settings, kept on every start: nothing said.
      const created = await TestApp.start(kind, {}, other);
      await created.close();
      warn.mockClear();
      const restarted = await TestApp.start(kind, {}, other);
      await restarted.close();
      expect(ignored()).toEqual([]);
    } finally {
      warn.mockRestore();
      await db.drop();
      await other.drop();
    }
  });
});

describeEachDatabase('Password hashes at the configured cost (PASSWORD_HASH_*)', (kind) => {
  it('stores a password hashed at an older cost again at the new one when its user signs in, and keeps their tokens', async () => {
    const db = await createTestDatabase(kind);
    const before = await TestApp.start(kind, { PASSWORD_HASH_MEMORY_KIB: '256', PASSWORD_HASH_ITERATIONS: '1' }, db);
    let user: { id: string; email: string; token: string };
    try {
      user = await before.userWithRole(Role.User);
    } finally {
      await before.close();
    }
    const t = await TestApp.start(kind, { PASSWORD_HASH_MEMORY_KIB: '512', PASSWORD_HASH_ITERATIONS: '2' }, db);
    try {
      const stored = async () =>
        ((await t.get(DataSource).query(`SELECT password_hash FROM users WHERE id = '${user.id}'`)) as { password_hash: string }[])[0]!
          .password_hash;
      expect(await stored()).toMatch(/\$m=256,p=\d+,t=1\$/);
      // A wrong password learns nothing and changes nothing.
      await t.http.post('/api/auth/login').send({ email: user.email, password: 'not-the-password' }).expect(401);
      expect(await stored()).toMatch(/\$m=256,p=\d+,t=1\$/);

      await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(200);
      expect(await stored()).toMatch(/\$m=512,p=\d+,t=2\$/);
      await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(200);
      await t.http.get('/api/auth/me').set('Authorization', `Bearer ${user.token}`).expect(200);

      // The upgrade applies only to the hash it read: a password changed in between is kept.
      const changed = await stored();
      expect(await t.get(UsersService).upgradePasswordHash(user.id, '$argon2id$v=19$m=256,p=4,t=1$stale$stale', 'upgraded')).toBe(false);
      expect(await stored()).toBe(changed);
    } finally {
      await t.close();
      await db.drop();
    }
  });
});

describeEachDatabase('Changing your own password (POST /api/auth/me/password)', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start(kind, { LOGIN_MAX_ATTEMPTS: '3', LOGIN_MAX_ATTEMPTS_PER_IP: '1000', LOGIN_WINDOW_SECONDS: '60' });
  });
  afterAll(() => t?.close());
  const change = (token: string, body: Record<string, unknown>) =>
    t.http.post('/api/auth/me/password').set('Authorization', `Bearer ${token}`).send(body);

  it('lets any signed-in user change it with the current one: old tokens stop, the answered token and the new password work', async () => {
    const user = await t.userWithRole(Role.User);
    // A second session of the same user (another device): revoked too.
    const other = await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(200);
    const res = await change(user.token, { currentPassword: USER_PASSWORD, newPassword: 'a-brand-new-password' }).expect(200);
    expect(res.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600 });

    await t.http.get('/api/auth/me').set('Authorization', `Bearer ${user.token}`).expect(401);
    await t.http.get('/api/auth/me').set('Authorization', `Bearer ${other.body.access_token}`).expect(401);
    await t.http.get('/api/auth/me').set('Authorization', `Bearer ${res.body.access_token}`).expect(200);
    await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(401);
    await t.http.post('/api/auth/login').send({ email: user.email, password: 'a-brand-new-password' }).expect(200);

    const journal = await t.http
      .get('/api/audit?action=user_updated&limit=50')
      .set('Authorization', `Bearer ${await t.rootToken()}`)
      .expect(200);
    const entry = journal.body.items.find((e: { targetId: string }) => e.targetId === user.id);
    expect(entry).toMatchObject({ actorEmail: user.email, metadata: { changed: ['password'], self: true } });
    expect(JSON.stringify(journal.body)).not.toContain('a-brand-new-password');
  });

  it('refuses a wrong current password with 400 naming it (the token stays good), journals it, and throttles guesses', async () => {
    const user = await t.userWithRole(Role.Admin);
    for (let i = 0; i < 3; i++) {
      const res = await change(user.token, { currentPassword: `wrong-password-${i}`, newPassword: 'a-brand-new-password' }).expect(400);
      expect(res.body.details).toEqual([{ field: 'currentPassword', problems: ['currentPassword is not this account’s password'] }]);
    }
    const blocked = await change(user.token, { currentPassword: USER_PASSWORD, newPassword: 'a-brand-new-password' }).expect(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    await t.http.get('/api/auth/me').set('Authorization', `Bearer ${user.token}`).expect(200);
    const journal = await t.http
      .get('/api/audit?action=login_failure&limit=50')
      .set('Authorization', `Bearer ${await t.rootToken()}`)
      .expect(200);
    expect(journal.body.items.filter((e: { targetId: string }) => e.targetId === user.id)).toHaveLength(3);
    expect(journal.body.items.find((e: { targetId: string }) => e.targetId === user.id).metadata).toEqual({
      email: user.email,
      reason: 'wrong_current_password',
    });
  });

  it('is not blocked by failed sign-ins on the email (someone without the token), and two changes at once: one applies, one 409', async () => {
    const user = await t.userWithRole(Role.User);
    for (let i = 0; i < 3; i++)
      await t.http
        .post('/api/auth/login')
        .send({ email: user.email, password: `guess-${i}-wrong` })
        .expect(401);
    await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(429);

    const [a, b] = await Promise.all([
      change(user.token, { currentPassword: USER_PASSWORD, newPassword: 'first-new-password' }),
      change(user.token, { currentPassword: USER_PASSWORD, newPassword: 'second-new-password' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const [won, lost] = a.status === 200 ? [a, b] : [b, a];
    expect(lost.body.message).toMatch(/changed while its password was being changed/);
    await t.http.get('/api/auth/me').set('Authorization', `Bearer ${won.body.access_token}`).expect(200);
    await t.http.get('/api/auth/me').set('Authorization', `Bearer ${user.token}`).expect(401);
    const journal = await t.http
      .get('/api/audit?action=user_updated&limit=50')
      .set('Authorization', `Bearer ${await t.rootToken()}`)
      .expect(200);
    expect(
      journal.body.items.filter((e: { targetId: string; metadata: { self?: boolean } }) => e.targetId === user.id && e.metadata.self),
    ).toHaveLength(1);
  });

  it('refuses a short new password, the same password, or none, with 400 naming the field; and anyone without a token', async () => {
    const user = await t.userWithRole(Role.User);
    const short = await change(user.token, { currentPassword: USER_PASSWORD, newPassword: 'short' }).expect(400);
    expect(short.body.details[0].field).toBe('newPassword');
    const same = await change(user.token, { currentPassword: USER_PASSWORD, newPassword: USER_PASSWORD }).expect(400);
    expect(same.body.message).toBe('newPassword must differ from currentPassword');
    const missing = await change(user.token, { newPassword: 'a-brand-new-password' }).expect(400);
    expect(missing.body.details[0].field).toBe('currentPassword');
    await t.http.post('/api/auth/me/password').send({ currentPassword: USER_PASSWORD, newPassword: 'a-brand-new-password' }).expect(401);
    await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(200);
  });
});
