import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { inject } from 'vitest';
import { ROOT_EMAIL, ROOT_PASSWORD, TestApp } from './support/test-app.js';

const chromiumPath = inject('chromiumPath');
/** Screenshots of the run (git-ignored): kept so a failure in CI can be looked at. */
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts', 'swagger-ui');
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Under load (2 shared cores) a click can take seconds to render: wait generously, each step on its own. */
const STEP_MS = 15_000;

interface OpenApiDocument {
  paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
}

// Without Chromium the suite is skipped; global-setup prints why (and REQUIRE_BROWSER=1 makes it a failure).
describe.skipIf(!chromiumPath)('Swagger UI in headless Chromium: every route runs from its defaults', () => {
  let t: TestApp;
  let baseUrl: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  let getRoutes: string[];
  let appointmentId: string;

  beforeAll(async () => {
    // SQLite is enough: this checks the documentation as a browser executes it, not the database.
    t = await TestApp.start('sqlite');
    await t.app.listen(0, '127.0.0.1');
    baseUrl = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
    const doc: OpenApiDocument = (await t.http.get('/api/docs-json').expect(200)).body;
    getRoutes = Object.entries(doc.paths)
      .filter(([, methods]) => methods.get)
      .map(([path]) => path);
    // The one route with an id of something the UI cannot create from a default (a start must be in the future).
    const res = await t.http
      .post('/api/appointments')
      .set('Authorization', `Bearer ${await t.rootToken()}`)
      .send({ clientName: 'Jean Dupont', clientPhone: '0612345678', startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString() })
      .expect(201);
    appointmentId = res.body.id;

    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'swagger-ui-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath!,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 900 },
      timeout: 30_000,
    });
    context.setDefaultTimeout(STEP_MS);
    // Nothing leaves the machine (Swagger UI's validator badge, fonts): only the app answers.
    await context.route('**/*', (route) => (route.request().url().startsWith(baseUrl) ? route.continue() : route.abort()));
    page = context.pages()[0] ?? (await context.newPage());
  }, 90_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    if (profile) rmSync(profile, { recursive: true, force: true });
    await t?.close();
  });

  afterEach(async (test) => {
    if (page && test.task.result?.state === 'fail') {
      await page.screenshot({ path: join(ARTIFACTS, 'failure.png'), fullPage: true }).catch(() => undefined);
    }
  });

  const operation = (method: string, path: string): Locator =>
    page.locator(`.opblock.opblock-${method}`, { has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });

  /** Opens an operation, presses "Try it out", lets `prepare` adjust the defaults, executes, and returns the status and body. */
  async function execute(
    method: string,
    path: string,
    prepare?: (block: Locator) => Promise<void>,
  ): Promise<{ status: number; body: string }> {
    const block = operation(method, path);
    await block.scrollIntoViewIfNeeded();
    if (!(await block.locator('.try-out').isVisible())) await block.locator('.opblock-summary').first().click();
    const tryOut = block.locator('button.try-out__btn');
    if ((await tryOut.textContent())?.includes('Try it out')) await tryOut.click();
    if (prepare) await prepare(block);
    await block.locator('button.execute').click();
    const status = block.locator('.live-responses-table tr.response .response-col_status').first();
    await status.waitFor();
    const code = Number((await status.textContent())?.trim().match(/^\d{3}/)?.[0]);
    const body = (await block.locator('.live-responses-table .response-col_description pre').first().textContent()) ?? '';
    // Close it again so the page stays short and the next block is found without scrolling past long answers.
    await block.locator('.opblock-summary').first().click();
    return { status: code, body };
  }

  it('signs in through "Try it out", authorizes with the token, and executes every GET route and the SMS routes with a 2xx', async () => {
    await page.goto(`${baseUrl}/api/docs`, { waitUntil: 'domcontentloaded' });
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    expect(await page.title()).toBe('SMS backbone API');

    const login = await execute('post', '/api/auth/login', async (block) => {
      await block.locator('textarea.body-param__text').fill(JSON.stringify({ email: ROOT_EMAIL, password: ROOT_PASSWORD }));
    });
    expect(login.status, login.body).toBe(200);
    const token = JSON.parse(login.body).access_token as string;
    expect(token).toMatch(/^ey/);

    await page.locator('.scheme-container button.authorize').click();
    const modal = page.locator('.modal-ux');
    await modal.locator('input').first().fill(token);
    await modal.locator('button.authorize').click();
    await modal.locator('button.btn-done').click();
    await modal.waitFor({ state: 'detached' });

    const results: Record<string, number> = {};
    // The four SMS routes first: the send gives a stored message whose id the message route uses.
    let messageId = '';
    for (const path of ['/api/sms/send', '/api/sms/notification', '/api/sms/bulk', '/api/sms/format-phone']) {
      const { status, body } = await execute('post', path);
      results[`POST ${path}`] = status;
      if (path === '/api/sms/send' && status === 201) messageId = JSON.parse(body).id;
    }
    expect(messageId).toMatch(/^[0-9a-f-]{36}$/);

    const ids: Record<string, string> = { '/api/sms/messages/{id}': messageId, '/api/appointments/{id}': appointmentId };
    for (const path of getRoutes) {
      const { status } = await execute('get', path, async (block) => {
        if (!path.includes('{')) return;
        await block.locator('.parameters input[placeholder="id"]').fill(ids[path] ?? '');
      });
      results[`GET ${path}`] = status;
    }

    await page.screenshot({ path: join(ARTIFACTS, 'all.png'), fullPage: true });
    expect(Object.keys(results)).toEqual(
      expect.arrayContaining(['GET /api/users', 'GET /api/audit', 'GET /api/sms/messages', 'GET /api/appointments']),
    );
    const failures = Object.entries(results).filter(([, status]) => !(status >= 200 && status < 300));
    expect(failures).toEqual([]);
  }, 60_000);
});
