import { DataSource } from 'typeorm';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { LogCapture } from './support/log-capture.js';
import { TestApp } from './support/test-app.js';

describeEachDatabase('HTTP surface', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start(kind, { BODY_LIMIT_BYTES: '4096' });
  });
  afterAll(() => t?.close());

  it('reports health without a token', async () => {
    const res = await t.http.get('/api/health').expect(200);
    expect(res.body).toEqual({ status: 'ok', database: 'up', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it('answers 413 past the body limit, in the common error shape', async () => {
    const res = await t.http
      .post('/api/auth/login')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ email: 'x@example.test', password: 'y'.repeat(8000) }))
      .expect(413);
    expect(res.body).toEqual({ statusCode: 413, error: 'Payload Too Large', message: 'Request body is too large' });
  });

  it('answers 400 to malformed JSON without echoing parser internals', async () => {
    const res = await t.http
      .post('/api/auth/login')
      .set('Content-Type', 'application/json')
      .send('{"email": "x@example.test",')
      .expect(400);
    expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/not valid JSON/) });
  });

  it('says what is wrong with a body that is not a JSON object, a forbidden key, or a token pasted with its quotes', async () => {
    const root = await t.rootToken();
    const post = (body: string) =>
      t.http.post('/api/sms/send').set('Authorization', `Bearer ${root}`).set('Content-Type', 'application/json').send(body);
    for (const [body, got] of [
      ['[1,2]', 'an array'],
      ['"+33612345678"', 'a string'],
      ['42', 'a number'],
      ['null', 'null'],
    ]) {
      const res = await post(body).expect(400);
      expect(res.body).toMatchObject({
        message: `body must be a JSON object, not ${got}`,
        details: [{ field: 'body', problems: [`body must be a JSON object, not ${got}`] }],
      });
    }
    const polluted = await post('{"__proto__":{"x":1},"to":"+33612345678","message":"Bonjour"}').expect(400);
    expect(polluted.body).toMatchObject({
      message: '__proto__ is not an accepted key',
      details: [{ field: '__proto__', problems: ['__proto__ is not an accepted key'] }],
    });
    const quoted = await t.http.get('/api/sms/templates').set('Authorization', `Bearer "${root}"`).expect(401);
    expect(quoted.body.message).toMatch(/^The token is in quotes/);
    await t.http.get('/api/sms/templates').set('Authorization', 'Bearer "not-a-token"').expect(401);
    await t.http
      .get('/api/sms/templates')
      .set('Authorization', 'Bearer not-a-token')
      .expect(401, /Invalid token/);
  });

  it('answers 404 in the common shape for unknown routes', async () => {
    const res = await t.http.get('/api/nope').expect(404);
    expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found', message: expect.any(String) });
  });

  it('answers 405 with Allow for a path that has routes, none for the method used; a 404 a route gives itself stays', async () => {
    const templates = await t.http.delete('/api/sms/templates').expect(405);
    expect(templates.headers.allow).toBe('GET, HEAD');
    expect(templates.body).toEqual({
      statusCode: 405,
      error: 'Method Not Allowed',
      message: 'DELETE is not allowed on this path: use GET',
      allowed: ['GET', 'HEAD'],
    });
    // A path with parameters, a query string, a trailing slash: the same.
    const message = await t.http.put('/api/sms/messages/0b9d3c55-3c1b-4f5e-9d36-1c2f1a9e4a10/?page=1').expect(405);
    expect(message.headers.allow).toBe('GET, HEAD');
    const send = await t.http.get('/api/sms/send').expect(405);
    expect(send.body.message).toBe('GET is not allowed on this path: use POST');
    expect(send.headers.allow).toBe('POST');
    // Unknown path, and a known route's own 404.
    await t.http.delete('/api/nope').expect(404);
    const root = await t.rootToken();
    const missing = await t.http
      .get('/api/sms/messages/0b9d3c55-3c1b-4f5e-9d36-1c2f1a9e4a10')
      .set('Authorization', `Bearer ${root}`)
      .expect(404);
    expect(missing.body.message).toMatch(/^No SMS with id/);
  });

  it('sets security headers (helmet)', async () => {
    const res = await t.http.get('/api/health').expect(200);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
  });

  it('serves Swagger UI and a document with bearer auth and every route', async () => {
    const ui = await t.http.get('/api/docs').redirects(1).expect(200);
    expect(ui.text).toContain('swagger-ui');
    const doc = await t.http.get('/api/docs-json').expect(200);
    expect(doc.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const path of [
      '/api/auth/login',
      '/api/auth/me',
      '/api/users',
      '/api/users/{id}',
      '/api/audit',
      '/api/health',
      '/api/sms/webhooks/status',
      '/api/sms/webhooks/inbound',
      '/api/sms/opt-outs',
      '/api/sms/opt-outs/{phone}',
      '/api/sms/stats',
    ]) {
      expect(Object.keys(doc.body.paths)).toContain(path);
    }
    expect(doc.body.paths['/api/users'].post.requestBody).toBeDefined();
  });

  it('never leaks internals in a 500', async () => {
    // A token for a user id that is not a UUID makes PostgreSQL raise; SQLite simply finds nobody.
    const { JwtService } = await import('@nestjs/jwt');
    const token = await t.get(JwtService).signAsync({ sub: "x' OR 1=1 --", email: 'x', role: Role.SuperAdmin });
    const res = await t.http.get('/api/auth/me').set('Authorization', `Bearer ${token}`);
    expect([401, 500]).toContain(res.status);
    expect(JSON.stringify(res.body)).not.toMatch(/SELECT|syntax|uuid|stack|at .*\.js/i);
  });
});

const NO_SUCH_ID = '00000000-0000-4000-8000-000000000000';

/** Who may call what: no token → 401, wrong role → 403, right role → not 401/403. */
describeEachDatabase('Access matrix', (kind) => {
  let t: TestApp;
  const tokens: Record<string, string | null> = {};
  beforeAll(async () => {
    t = await TestApp.start(kind);
    tokens.none = null;
    tokens.user = (await t.userWithRole(Role.User)).token;
    tokens.admin = (await t.userWithRole(Role.Admin)).token;
    tokens.superadmin = await t.rootToken();
  });
  afterAll(() => t?.close());

  type Who = 'none' | 'user' | 'admin' | 'superadmin';
  const staffOnly: Record<Who, 'denied401' | 'denied403' | 'allowed'> = {
    none: 'denied401',
    user: 'denied403',
    admin: 'allowed',
    superadmin: 'allowed',
  };
  const anySignedIn: Record<Who, 'denied401' | 'denied403' | 'allowed'> = {
    none: 'denied401',
    user: 'allowed',
    admin: 'allowed',
    superadmin: 'allowed',
  };
  const routes: { method: 'get' | 'post' | 'patch' | 'delete'; path: string; body?: object; rule: typeof staffOnly }[] = [
    { method: 'get', path: '/api/auth/me', rule: anySignedIn },
    { method: 'get', path: '/api/users', rule: staffOnly },
    { method: 'post', path: '/api/users', body: {}, rule: staffOnly },
    { method: 'patch', path: `/api/users/${NO_SUCH_ID}`, body: {}, rule: staffOnly },
    { method: 'get', path: '/api/audit', rule: staffOnly },
    { method: 'post', path: '/api/sms/send', body: {}, rule: staffOnly },
    { method: 'post', path: '/api/sms/notification', body: {}, rule: staffOnly },
    { method: 'post', path: '/api/sms/bulk', body: {}, rule: staffOnly },
    { method: 'post', path: '/api/sms/format-phone', body: { phone: '0612345678' }, rule: anySignedIn },
    { method: 'get', path: '/api/sms/templates', rule: staffOnly },
    { method: 'get', path: '/api/sms/messages', rule: staffOnly },
    { method: 'get', path: `/api/sms/messages/${NO_SUCH_ID}`, rule: staffOnly },
    { method: 'get', path: '/api/sms/stats', rule: staffOnly },
    { method: 'get', path: '/api/sms/opt-outs', rule: staffOnly },
    { method: 'post', path: '/api/sms/opt-outs', body: {}, rule: staffOnly },
    { method: 'delete', path: '/api/sms/opt-outs/%2B33612345678', rule: staffOnly },
    { method: 'get', path: '/api/appointments', rule: staffOnly },
    { method: 'post', path: '/api/appointments', body: {}, rule: staffOnly },
    { method: 'get', path: `/api/appointments/${NO_SUCH_ID}`, rule: staffOnly },
    { method: 'patch', path: `/api/appointments/${NO_SUCH_ID}`, body: {}, rule: staffOnly },
    { method: 'post', path: `/api/appointments/${NO_SUCH_ID}/confirm`, rule: staffOnly },
    { method: 'post', path: `/api/appointments/${NO_SUCH_ID}/cancel`, body: {}, rule: staffOnly },
  ];

  for (const route of routes) {
    for (const who of ['none', 'user', 'admin', 'superadmin'] as Who[]) {
      it(`${route.method.toUpperCase()} ${route.path} as ${who}: ${route.rule[who]}`, async () => {
        let req = t.http[route.method](route.path);
        if (tokens[who]) req = req.set('Authorization', `Bearer ${tokens[who]}`);
        const res = await (route.body ? req.send(route.body) : req);
        if (route.rule[who] === 'denied401') expect(res.status).toBe(401);
        else if (route.rule[who] === 'denied403') expect(res.status).toBe(403);
        else expect([401, 403]).not.toContain(res.status);
      });
    }
  }
});

describeEachDatabase('Health when the database is gone', (kind) => {
  it('answers 503 with database: down', async () => {
    const t = await TestApp.start(kind);
    try {
      await t.get(DataSource).destroy();
      const res = await t.http.get('/api/health').expect(503);
      expect(res.body).toMatchObject({ statusCode: 503, status: 'error', database: 'down' });
    } finally {
      await t.close().catch(() => undefined);
      await t.db.drop();
    }
  });
});

describeEachDatabase('URLs Fastify refuses before routing', (kind) => {
  const capture = new LogCapture();
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start(kind, { LOG_LEVEL: 'log' }, undefined, { logDestination: capture });
  });
  afterAll(() => t?.close());

  it.each([
    ['GET', '/api/sms/messages/%ZZ'],
    ['DELETE', '/api/sms/opt-outs/0612345678%'],
  ])('%s %s: 400 in the common shape, with the security headers, a request id and a masked log line', async (method, path) => {
    capture.clear();
    const res = await t.http[method.toLowerCase() as 'get' | 'delete'](path).set('X-Request-Id', 'bad-url-1').expect(400);
    expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/^The URL is not valid/) });
    expect(res.headers['x-request-id']).toBe('bad-url-1');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const [line] = capture.forRequest('bad-url-1');
    expect(line).toMatchObject({ msg: 'request completed', res: { statusCode: 400 } });
    expect(capture.text).not.toContain('0612345678');
  });

  it('answers an over-long path parameter the same way (414)', async () => {
    const res = await t.http.delete(`/api/sms/opt-outs/${'1'.repeat(150)}`).expect(414);
    expect(res.body).toEqual({ statusCode: 414, error: 'URI Too Long', message: 'A path parameter is too long' });
    expect(res.headers['x-request-id']).toBeDefined();
  });
});
