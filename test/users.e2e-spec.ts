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
    await t.http.patch(`/api/users/${other.id}`).set(auth(admin.token)).send({ name: 'Renamed' }).expect(403);
    const me = await t.http.get('/api/auth/me').set(auth(root)).expect(200);
    const res = await t.http.patch(`/api/users/${me.body.id}`).set(auth(root)).send({ role: 'admin' }).expect(409);
    expect(res.body.message).toMatch(/last active superadmin/);
  });

  it('changes a password: the old one and older tokens stop working', async () => {
    const user = await t.userWithRole(Role.User);
    await new Promise((r) => setTimeout(r, 1100)); // tokens carry whole seconds
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ password: 'a-brand-new-password' }).expect(200);
    await t.http.get('/api/auth/me').set(auth(user.token)).expect(401);
    await t.http.post('/api/auth/login').send({ email: user.email, password: USER_PASSWORD }).expect(401);
    await t.http.post('/api/auth/login').send({ email: user.email, password: 'a-brand-new-password' }).expect(200);
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
