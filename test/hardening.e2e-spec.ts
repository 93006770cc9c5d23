import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { inject } from 'vitest';
import { describeEachDatabase } from './support/databases.js';
import { TestApp } from './support/test-app.js';

const ALLOWED = 'https://app.example.com';
const ALSO_ALLOWED = 'http://localhost:5173';
const OTHER = 'https://evil.example.net';

/** What helmet must put on every answer (JSON, errors, Swagger UI). */
function expectSecurityHeaders(headers: Record<string, string>): void {
  const csp = headers['content-security-policy'];
  expect(csp).toBeDefined();
  const directives = Object.fromEntries(
    csp.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name, values.join(' ')];
    }),
  );
  expect(directives).toMatchObject({
    'default-src': "'self'",
    'script-src': "'self'",
    'object-src': "'none'",
    'frame-ancestors': "'self'",
    'base-uri': "'self'",
    'form-action': "'self'",
    'script-src-attr': "'none'",
  });
  // Never upgraded to https: the service is often reached over plain http (local runs, an internal host).
  expect(directives).not.toHaveProperty('upgrade-insecure-requests');
  expect(headers).toMatchObject({
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'SAMEORIGIN',
    'referrer-policy': 'no-referrer',
    'strict-transport-security': 'max-age=31536000; includeSubDomains',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  });
  expect(headers['x-powered-by']).toBeUndefined();
}

describeEachDatabase('Security headers (helmet) and CORS_ORIGINS', (kind) => {
  describe('by default', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await TestApp.start(kind);
    });
    afterAll(async () => {
      await t?.close();
    });

    it('puts the security headers on JSON answers, errors and Swagger UI', async () => {
      for (const res of [
        await t.http.get('/api/health').expect(200),
        await t.http.get('/api/sms/messages').expect(401),
        await t.http.get('/api/nothing-here').expect(404),
        await t.http.post('/api/auth/login').set('Content-Type', 'application/json').send('{"email":').expect(400),
        await t.http.get('/api/docs').expect(200),
      ]) {
        expectSecurityHeaders(res.headers);
      }
    });

    it('answers no CORS header: browsers on other origins cannot read the API', async () => {
      const preflight = await t.http
        .options('/api/sms/send')
        .set('Origin', ALLOWED)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'authorization,content-type');
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
      const get = await t.http.get('/api/health').set('Origin', ALLOWED).expect(200);
      expect(get.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe(`with CORS_ORIGINS=${ALLOWED},${ALSO_ALLOWED}`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await TestApp.start(kind, { CORS_ORIGINS: `${ALLOWED}, ${ALSO_ALLOWED}` });
    });
    afterAll(async () => {
      await t?.close();
    });

    it.each([ALLOWED, ALSO_ALLOWED])('answers the preflight of %s for the sending routes, without credentials', async (origin) => {
      const res = await t.http
        .options('/api/sms/send')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'authorization,content-type,idempotency-key')
        .expect(204);

      expect(res.headers['access-control-allow-origin']).toBe(origin);
      expect(res.headers['access-control-allow-methods']).toContain('POST');
      expect(res.headers['access-control-allow-headers']?.toLowerCase()).toContain('idempotency-key');
      // A browser app may send its own request id (kept in the logs and answered back).
      expect(res.headers['access-control-allow-headers']?.toLowerCase()).toContain('x-request-id');
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      expect(res.headers.vary).toContain('Origin');
    });

    it('lets the allowed origin read answers and the headers a client needs (Retry-After, Idempotency-Replayed)', async () => {
      const token = await t.rootToken();
      const res = await t.http.get('/api/auth/me').set('Origin', ALLOWED).set('Authorization', `Bearer ${token}`).expect(200);

      expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
      expect(res.headers['access-control-expose-headers']).toMatch(/Retry-After/);
      expect(res.headers['access-control-expose-headers']).toMatch(/Idempotency-Replayed/);
      expectSecurityHeaders(res.headers);
    });

    it('gives another origin nothing', async () => {
      const preflight = await t.http
        .options('/api/sms/send')
        .set('Origin', OTHER)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'authorization');
      const get = await t.http.get('/api/health').set('Origin', OTHER).expect(200);
      const sameOrigin = await t.http.get('/api/health').expect(200);
      for (const res of [preflight, get, sameOrigin]) {
        expect(Object.keys(res.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
      }
    });
  });
});

describe('API_DOCS_ENABLED=false', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start('sqlite', { API_DOCS_ENABLED: 'false' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves neither Swagger UI nor the OpenAPI document, and the API as before', async () => {
    for (const path of ['/api/docs', '/api/docs/', '/api/docs-json', '/api/docs/swagger-ui-init.js']) {
      const res = await t.http.get(path).expect(404);
      expect(res.body).toMatchObject({ statusCode: 404 });
    }
    await t.http.get('/api/health/live').expect(200);
    await t.http
      .get('/api/sms/templates')
      .set('Authorization', `Bearer ${await t.rootToken()}`)
      .expect(200);
  });
});

const chromiumPath = inject('chromiumPath');
// Without Chromium this is skipped; global-setup prints why (and REQUIRE_BROWSER=1 makes it a failure).
describe.skipIf(!chromiumPath)('Swagger UI under the Content-Security-Policy (headless Chromium)', () => {
  it('loads and renders the operations with no CSP violation', async () => {
    const t = await TestApp.start('sqlite');
    const profile = mkdtempSync(join(tmpdir(), 'csp-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath!,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
      timeout: 30_000,
    });
    try {
      await t.app.listen(0, '127.0.0.1');
      const baseUrl = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
      // Nothing leaves the machine (Swagger UI's validator badge): only the app answers.
      await context.route(
        (url) => !url.href.startsWith(baseUrl),
        (route) => route.abort(),
      );
      const page = context.pages()[0] ?? (await context.newPage());
      await page.addInitScript(() => {
        const seen: string[] = [];
        (window as unknown as { cspViolations: string[] }).cspViolations = seen;
        document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      const consoleErrors: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) consoleErrors.push(message.text());
      });

      const res = await page.goto(`${baseUrl}/api/docs`, { waitUntil: 'load' });
      expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
      await page.locator('.swagger-ui .info .title').filter({ hasText: 'SMS backbone' }).waitFor({ timeout: 20_000 });
      await page.locator('.opblock').first().waitFor({ timeout: 20_000 });

      expect(await page.locator('.opblock').count()).toBeGreaterThan(10);
      expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
      expect(consoleErrors).toEqual([]);
    } finally {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
      await t.close();
    }
  }, 90_000);
});
