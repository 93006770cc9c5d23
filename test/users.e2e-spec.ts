import { PasswordService } from '../src/users/password.service.js';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { TestApp, USER_PASSWORD } from './support/test-app.js';

describeEachDatabase('Users', (kind) => {
  let t: TestApp;
  let root: string;
  let admin: { id: string; email: string; token: string };
  beforeAll(async () => {
    t = await TestApp.start(kind);
    root = await t.rootToken();
    admin = await t.userWithRole(Role.Admin);
  });
  afterAll(() => t?.close());

  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('creates a user with a normalised phone and never returns the password hash', async () => {
    const res = await t.http
      .post('/api/users')
      .set(auth(root))
      .send({ email: 'Jean.Dupont@Example.test', password: USER_PASSWORD, role: 'user', name: 'Jean Dupont', phone: '06 12 34 56 78' })
      .expect(201);
    expect(res.body).toEqual({
      id: expect.any(String),
      email: 'jean.dupont@example.test',
      role: 'user',
      name: 'Jean Dupont',
      phone: '+33612345678',
      disabled: false,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(JSON.stringify(res.body)).not.toMatch(/password/i);
  });

  it('refuses a duplicate email, whatever its case, with 409', async () => {
    await t.http.post('/api/users').set(auth(root)).send({ email: 'dup@example.test', password: USER_PASSWORD, role: 'user' }).expect(201);
    const res = await t.http
      .post('/api/users')
      .set(auth(root))
      .send({ email: 'DUP@example.test', password: USER_PASSWORD, role: 'user' })
      .expect(409);
    expect(res.body.message).toMatch(/already exists/);
  });

  it("checks an email's length as stored, lower-cased: one that grows past 254 characters (İ) is a 400 naming email", async () => {
    const growing = `${'İ'.repeat(32)}@${'İ'.repeat(40)}.${'İ'.repeat(40)}.${'İ'.repeat(40)}.io`; // 158 characters, 310 lower-cased
    const res = await t.http.post('/api/users').set(auth(root)).send({ email: growing, password: USER_PASSWORD, role: 'user' }).expect(400);
    expect(res.body.message).toMatch(/email/);
  });

  it('accepts an email without a top-level domain, as the first admin has (admin@localhost), and it signs in', async () => {
    await t.http.post('/api/users').set(auth(root)).send({ email: 'ops@localhost', password: USER_PASSWORD, role: 'user' }).expect(201);
    await t.http.post('/api/auth/login').send({ email: 'ops@localhost', password: USER_PASSWORD }).expect(200);
  });

  it('refuses short passwords, bad emails, unknown roles, bad phones and unknown fields, naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ email: 'a@example.test', password: 'short', role: 'user' }, 'password'],
      [{ email: 'not-an-email', password: USER_PASSWORD, role: 'user' }, 'email'],
      [{ email: 'b@example.test', password: USER_PASSWORD, role: 'king' }, 'role'],
      [{ email: 'c@example.test', password: USER_PASSWORD, role: 'user', phone: '12' }, 'phone'],
      [{ email: 'd@example.test', password: USER_PASSWORD, role: 'user', isAdmin: true }, 'isAdmin'],
    ];
    for (const [body, field] of cases) {
      const res = await t.http.post('/api/users').set(auth(root)).send(body).expect(400);
      expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
      expect(res.body.message).toContain(field);
    }
  });

  it('lets an admin create plain users but not admins or superadmins', async () => {
    await t.http
      .post('/api/users')
      .set(auth(admin.token))
      .send({ email: 'made-by-admin@example.test', password: USER_PASSWORD, role: 'user' })
      .expect(201);
    for (const role of ['admin', 'superadmin']) {
      const res = await t.http
        .post('/api/users')
        .set(auth(admin.token))
        .send({ email: `x-${role}@example.test`, password: USER_PASSWORD, role })
        .expect(403);
      expect(res.body.message).toMatch(/superadmin/);
    }
  });

  it('lets only a superadmin promote, and promotion takes effect on existing tokens', async () => {
    const user = await t.userWithRole(Role.User);
    await t.http.get('/api/users').set(auth(user.token)).expect(403);
    await t.http.patch(`/api/users/${user.id}`).set(auth(admin.token)).send({ role: 'admin' }).expect(403);
    const res = await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ role: 'admin' }).expect(200);
    expect(res.body.role).toBe('admin');
    await t.http.get('/api/users').set(auth(user.token)).expect(200);
  });

  it('stops an admin from changing another admin, and keeps at least one superadmin', async () => {
    const other = await t.userWithRole(Role.Admin);
    await t.http.patch(`/api/users/${other.id}`).set(auth(admin.token)).send({ name: 'Renamed', password: 'hijackedpass12' }).expect(403);
    // The attempt is journaled: who tried what on whom (the fields sent, never the password).
    const journal = await t.http.get('/api/audit?action=user_change_refused&limit=100').set(auth(root)).expect(200);
    const entry = journal.body.items.find((e: { targetId: string }) => e.targetId === other.id);
    expect(entry).toMatchObject({ actorId: admin.id, targetType: 'user' });
    expect(entry.metadata).toEqual({
      attempted: 'update',
      email: other.email,
      role: 'admin',
      fields: ['name'],
      reason: 'Only a superadmin can change an admin or a superadmin',
    });
    expect(JSON.stringify(entry)).not.toContain('hijackedpass12');
    const me = await t.http.get('/api/auth/me').set(auth(root)).expect(200);
    const res = await t.http.patch(`/api/users/${me.body.id}`).set(auth(root)).send({ role: 'admin' }).expect(409);
    expect(res.body.message).toMatch(/last active superadmin/);
  });

  it('changes a password: the old one and older tokens stop working', async () => {
    const user = await t.userWithRole(Role.User);
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ password: 'a-brand-new-password' }).expect(200);
    await t.http.get('/api/auth/me').set(auth(user.token)).expect(401);
    await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(401);
    await t.http.post('/api/auth/login').send({ email: user.email, password: 'a-brand-new-password' }).expect(200);
  });

  it("refuses an admin's or superadmin's own password with 400 naming password and POST /api/auth/me/password", async () => {
    const superadmin = await t.userWithRole(Role.SuperAdmin);
    for (const actor of [admin, superadmin]) {
      const res = await t.http
        .patch(`/api/users/${actor.id}`)
        .set(auth(actor.token))
        .send({ password: 'a-self-chosen-password' })
        .expect(400);
      expect(res.body.message).toContain('password');
      expect(res.body.message).toContain('POST /api/auth/me/password');
      expect(res.body.details.map((d: { field: string }) => d.field)).toEqual(['password']);
      // Nothing changed: the old password still signs in, the token still works.
      await t.http.get('/api/auth/me').set(auth(actor.token)).expect(200);
      await t.http.post('/api/auth/login').send({ email: actor.email, password: 'a-self-chosen-password' }).expect(401);
      await t.http.post('/api/auth/login').send({ email: actor.email, password: USER_PASSWORD }).expect(200);
    }
    // Other fields of one's own account, and other users' passwords, keep their rules.
    await t.http.patch(`/api/users/${admin.id}`).set(auth(admin.token)).send({ name: 'Me myself' }).expect(200);
    const user = await t.userWithRole(Role.User);
    await t.http.patch(`/api/users/${user.id}`).set(auth(admin.token)).send({ password: 'reset-by-an-admin' }).expect(200);
  });

  /** A token as sign-in would sign it from the user's current state (what a sign-in racing a change produces). */
  const tokenAsSignedFrom = async (accessToken: string) => {
    const { JwtService } = await import('@nestjs/jwt');
    const jwt = t.get(JwtService);
    const { sub, email, role, ver } = jwt.decode<Record<string, unknown>>(accessToken);
    // Signed now, so its `iat` is the second of the change (or later): a whole-second comparison lets it through.
    return (ver2: unknown = ver) => jwt.signAsync({ sub, email, role, ver: ver2 });
  };

  it('revokes a token issued in the same second as a password change, and accepts one issued just after', async () => {
    const user = await t.userWithRole(Role.User);
    const resign = await tokenAsSignedFrom(user.token);
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ password: 'another-new-password' }).expect(200);
    const sameSecond = await resign();
    const after = (await t.http.post('/api/auth/login').send({ email: user.email, password: 'another-new-password' }).expect(200)).body
      .access_token;

    const revoked = await t.http.get('/api/auth/me').set(auth(sameSecond)).expect(401);
    expect(revoked.body.message).toMatch(/revoked/);
    await t.http.get('/api/auth/me').set(auth(after)).expect(200);
  });

  it('revokes a token issued in the same second as a disable, even once the user is enabled again', async () => {
    const user = await t.userWithRole(Role.User);
    const resign = await tokenAsSignedFrom(user.token);
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ disabled: true }).expect(200);
    const sameSecond = await resign();
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ disabled: false }).expect(200);

    await t.http.get('/api/auth/me').set(auth(sameSecond)).expect(401);
    await t.http.get('/api/auth/me').set(auth(user.token)).expect(401);
    const after = (await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(200)).body.access_token;
    await t.http.get('/api/auth/me').set(auth(after)).expect(200);
  });

  it('refuses to let a user disable its own account, naming the field', async () => {
    const admin = await t.userWithRole(Role.Admin);
    const res = await t.http.patch(`/api/users/${admin.id}`).set(auth(admin.token)).send({ disabled: true }).expect(400);
    expect(res.body).toMatchObject({
      message: 'You cannot disable your own account',
      details: [{ field: 'disabled', problems: ['You cannot disable your own account'] }],
    });
    await t.http.get('/api/auth/me').set(auth(admin.token)).expect(200);
  });

  it('refuses a token that carries no token version', async () => {
    const user = await t.userWithRole(Role.User);
    const { JwtService } = await import('@nestjs/jwt');
    const legacy = await t.get(JwtService).signAsync({ sub: user.id, email: user.email, role: 'user' });
    await t.http.get('/api/auth/me').set(auth(legacy)).expect(401);
  });

  it('lists users page by page', async () => {
    const first = await t.http.get('/api/users?page=1&limit=2').set(auth(root)).expect(200);
    expect(first.body.items).toHaveLength(2);
    expect(first.body.total).toBeGreaterThan(2);
    expect(first.body).toMatchObject({ page: 1, limit: 2 });
    const second = await t.http.get('/api/users?page=2&limit=2').set(auth(root)).expect(200);
    expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    await t.http.get('/api/users?limit=100000').set(auth(root)).expect(400);
  });

  it('answers 404 for an unknown user and 400 for a malformed id', async () => {
    await t.http.patch('/api/users/00000000-0000-4000-8000-000000000000').set(auth(root)).send({ name: 'x' }).expect(404);
    await t.http.patch('/api/users/not-a-uuid').set(auth(root)).send({ name: 'x' }).expect(400);
  });
});

describeEachDatabase('Users: the last active superadmin under concurrency', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start(kind);
  });
  afterAll(() => t?.close());

  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('lets exactly one of two concurrent demotions of the only two superadmins through, every time', async () => {
    const rootId = (await t.http.get('/api/auth/me').set(auth(await t.rootToken()))).body.id as string;
    const second = await t.userWithRole(Role.SuperAdmin);
    const supers = [
      { id: rootId, token: await t.rootToken() },
      { id: second.id, token: second.token },
    ];
    for (let trial = 0; trial < 8; trial++) {
      // Each superadmin demotes the other at the same moment (alternating who goes first).
      const [a, b] = trial % 2 ? [supers[1], supers[0]] : supers;
      const answers = await Promise.all([
        t.http.patch(`/api/users/${b.id}`).set(auth(a.token)).send({ role: 'admin' }),
        t.http.patch(`/api/users/${a.id}`).set(auth(b.token)).send({ role: 'admin' }),
      ]);
      // The loser gets 409 (the last superadmin), or 403 when its actor was already demoted by the winner.
      expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
      expect([403, 409]).toContain(answers.find((r) => r.status !== 200)!.status);

      const { body } = await t.http.get('/api/users?limit=100').set(auth(a.token)).expect(200);
      const active = (body.items as { id: string; role: string; disabled: boolean }[]).filter(
        (u) => u.role === 'superadmin' && !u.disabled,
      );
      expect(active).toHaveLength(1);
      // The survivor promotes the other back for the next trial.
      const survivor = supers.find((s) => s.id === active[0].id)!;
      const demoted = supers.find((s) => s.id !== active[0].id)!;
      await t.http.patch(`/api/users/${demoted.id}`).set(auth(survivor.token)).send({ role: 'superadmin' }).expect(200);
    }
  });

  it('lets exactly one of two concurrent disables of the only two superadmins through', async () => {
    const third = await t.userWithRole(Role.SuperAdmin);
    const fourth = await t.userWithRole(Role.SuperAdmin);
    // Leave only third and fourth active: the root (and the earlier test's second superadmin) become admins.
    const { body } = await t.http.get('/api/users?limit=100').set(auth(third.token)).expect(200);
    for (const u of body.items as { id: string; role: string }[]) {
      if (u.role === 'superadmin' && u.id !== third.id && u.id !== fourth.id) {
        await t.http.patch(`/api/users/${u.id}`).set(auth(third.token)).send({ role: 'admin' }).expect(200);
      }
    }
    const signIn = async (email: string) =>
      (await t.http.post('/api/auth/login').send({ email, password: USER_PASSWORD }).expect(200)).body.access_token as string;
    const supers = [third, fourth];
    for (let trial = 0; trial < 4; trial++) {
      const answers = await Promise.all([
        t.http.patch(`/api/users/${supers[1].id}`).set(auth(supers[0].token)).send({ disabled: true }),
        t.http.patch(`/api/users/${supers[0].id}`).set(auth(supers[1].token)).send({ disabled: true }),
      ]);
      // The loser gets 409 (the last superadmin), or 401 when its actor was already disabled by the winner.
      expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
      expect([401, 409]).toContain(answers.find((r) => r.status !== 200)!.status);
      const [survivor, disabled] = answers[0].status === 200 ? supers : [supers[1], supers[0]];
      const list = await t.http.get('/api/users?limit=100').set(auth(survivor.token)).expect(200);
      const active = (list.body.items as { id: string; role: string; disabled: boolean }[]).filter(
        (u) => u.role === 'superadmin' && !u.disabled,
      );
      expect(active.map((u) => u.id)).toEqual([survivor.id]);
      // Re-enabled for the next trial; the disable revoked its tokens, so it signs in again.
      await t.http.patch(`/api/users/${disabled.id}`).set(auth(survivor.token)).send({ disabled: false }).expect(200);
      disabled.token = await signIn(disabled.email);
    }
  });
});

describeEachDatabase('Users: a change decided on a role or state that changed meanwhile', (kind) => {
  let t: TestApp;
  let root: string;
  let rootId: string;
  beforeAll(async () => {
    t = await TestApp.start(kind);
    root = await t.rootToken();
    rootId = (await t.http.get('/api/auth/me').set(auth(root))).body.id as string;
  });
  afterAll(() => t?.close());
  afterEach(() => vi.restoreAllMocks());

  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  /** The next password hash waits, inside its request, until `release()`: another request runs meanwhile. */
  const holdNextHash = () => {
    const passwords = t.get(PasswordService);
    const hash = passwords.hash.bind(passwords);
    let release!: () => void;
    let entered!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const inside = new Promise<void>((resolve) => (entered = resolve));
    vi.spyOn(passwords, 'hash').mockImplementationOnce(async (password: string) => {
      entered();
      await held;
      return hash(password);
    });
    return { inside, release };
  };

  it("refuses an admin's change to a user a superadmin promoted meanwhile (409): the admin may not set an admin's password", async () => {
    const admin = await t.userWithRole(Role.Admin);
    const user = await t.userWithRole(Role.User);
    const hold = holdNextHash();
    const takeover = t.http
      .patch(`/api/users/${user.id}`)
      .set(auth(admin.token))
      .send({ password: 'takenoverpass1' })
      .then((res) => res);
    await hold.inside;
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ role: 'admin' }).expect(200);
    hold.release();

    const res = await takeover;
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/changed meanwhile/);
    await t.http.post('/api/auth/login').send({ email: user.email, password: 'takenoverpass1' }).expect(401);
    await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(200);
  });

  it('never leaves no active superadmin: a disable decided while the account was an admin is refused once it was promoted and the other superadmin demoted', async () => {
    const other = await t.userWithRole(Role.Admin);
    const hold = holdNextHash();
    const disable = t.http
      .patch(`/api/users/${other.id}`)
      .set(auth(root))
      .send({ disabled: true, password: 'othernewpass12' })
      .then((res) => res);
    await hold.inside;
    await t.http.patch(`/api/users/${other.id}`).set(auth(root)).send({ role: 'superadmin' }).expect(200);
    // The root steps down: the other is an active superadmin now.
    await t.http.patch(`/api/users/${rootId}`).set(auth(root)).send({ role: 'admin' }).expect(200);
    hold.release();

    expect((await disable).status).toBe(409);
    const otherToken = (await t.http.post('/api/auth/login').send({ email: other.email, password: USER_PASSWORD }).expect(200)).body
      .access_token as string;
    const { body } = await t.http.get('/api/users?limit=100').set(auth(otherToken)).expect(200);
    expect((body.items as { id: string }[]).find((u) => u.id === other.id)).toMatchObject({ role: 'superadmin', disabled: false });
    // Put back for the other tests.
    await t.http.patch(`/api/users/${rootId}`).set(auth(otherToken)).send({ role: 'superadmin' }).expect(200);
  });

  it('journals no change for fields sent with the values they already have', async () => {
    const user = await t.userWithRole(Role.User);
    const journaled = async () =>
      (await t.http.get('/api/audit?action=user_updated&limit=100').set(auth(root)).expect(200)).body.items.filter(
        (e: { targetId?: string; target?: { id: string } }) => (e.targetId ?? e.target?.id) === user.id,
      ).length;
    const before = await journaled();
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ name: null, phone: '' }).expect(200);
    expect(await journaled()).toBe(before);
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ name: 'Léa', phone: '0612345678' }).expect(200);
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ name: 'Léa', phone: '+33 6 12 34 56 78' }).expect(200);
    expect(await journaled()).toBe(before + 1);
  });
});
