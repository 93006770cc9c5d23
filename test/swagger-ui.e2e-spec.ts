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
    await context.route(
      (url) => !url.href.startsWith(baseUrl),
      (route) => route.abort(),
    );
    page = context.pages()[0] ?? (await context.newPage());
  }, 90_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    if (profile) rmSync(profile, { recursive: true, force: true });
    await t?.close();
  });

  const operation = (on: Page, method: string, path: string): Locator =>
    on.locator(`.opblock.opblock-${method}`, { has: on.locator(`.opblock-summary-path[data-path="${path}"]`) });

  async function openDocs(on: Page): Promise<void> {
    await on.goto(`${baseUrl}/api/docs`, { waitUntil: 'domcontentloaded' });
    await on.locator('.opblock').first().waitFor({ timeout: 30_000 });
  }

  /** Opens an operation, presses "Try it out", lets `prepare` adjust the defaults, executes, and returns the status and body. */
  async function execute(
    on: Page,
    method: string,
    path: string,
    prepare?: (block: Locator) => Promise<void>,
  ): Promise<{ status: number; body: string; url: string }> {
    const block = operation(on, method, path);
    await block.scrollIntoViewIfNeeded();
    if (!(await block.locator('.try-out').isVisible())) await block.locator('.opblock-summary').first().click();
    const tryOut = block.locator('button.try-out__btn');
    if ((await tryOut.textContent())?.includes('Try it out')) await tryOut.click();
    if (prepare) await prepare(block);
    await block.locator('button.execute').click();
    const status = block.locator('.live-responses-table tr.response .response-col_status').first();
    await status.waitFor().catch(() => {
      throw new Error(`${method.toUpperCase()} ${path}: Swagger UI showed no answer within ${STEP_MS} ms (a parameter it could not send?)`);
    });
    const code = Number((await status.textContent())?.trim().match(/^\d{3}/)?.[0]);
    const body = (await block.locator('.live-responses-table .response-col_description pre').first().textContent()) ?? '';
    const url = (await block.locator('.request-url pre').first().textContent())?.trim() ?? '';
    // Close it again so the page stays short and the next block is found without scrolling past long answers.
    await block.locator('.opblock-summary').first().click();
    return { status: code, body, url };
  }

  it('signs in through "Try it out", authorizes with the token, and executes every GET route and the SMS routes with a 2xx', async ({
    onTestFailed,
  }) => {
    onTestFailed(async () => {
      await page.screenshot({ path: join(ARTIFACTS, 'failure.png'), fullPage: true }).catch(() => undefined);
    });
    await openDocs(page);
    expect(await page.title()).toBe('SMS backbone API');

    const login = await execute(page, 'post', '/api/auth/login', async (block) => {
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

    // The send first: it stores a message whose id the message route uses.
    const send = await execute(page, 'post', '/api/sms/send');
    expect(send.status, send.body).toBe(201);
    const messageId = JSON.parse(send.body).id as string;
    const results: Record<string, number> = { 'POST /api/sms/send': send.status };

    // One tab, one route after the other: on a busy 2-core machine, more tabs only compete for the same cores.
    const ids: Record<string, string> = { '/api/sms/messages/{id}': messageId, '/api/appointments/{id}': appointmentId };
    const jobs: [string, string][] = [
      ['post', '/api/sms/notification'],
      ['post', '/api/sms/bulk'],
      ['post', '/api/sms/format-phone'],
      ...getRoutes.map((path): [string, string] => ['get', path]),
    ];
    const prefilled: string[] = [];
    let batchId = '';
    for (const [method, path] of jobs) {
      const { status, url, body } = await execute(page, method, path, async (block) => {
        // The bulk routes take the batch the bulk POST (run before the GETs) accepted.
        if (path.includes('{batchId}')) await block.locator('.parameters input[placeholder="batchId"]').fill(batchId);
        else if (path.includes('{')) await block.locator('.parameters input[placeholder="id"]').fill(ids[path] ?? '');
      });
      if (method === 'post' && path === '/api/sms/bulk' && status === 202) batchId = JSON.parse(body).batchId as string;
      results[`${method.toUpperCase()} ${path}`] = status;
      // Filters start empty: only the pagination defaults may be sent.
      const sent = [...new URL(url).searchParams.keys()].filter((name) => name !== 'page' && name !== 'limit');
      if (sent.length) prefilled.push(`${path}?${sent.join('&')}`);
    }

    await page.screenshot({ path: join(ARTIFACTS, 'swagger-ui.png'), fullPage: true });
    expect(Object.keys(results)).toHaveLength(4 + getRoutes.length);
    expect(Object.keys(results)).toEqual(
      expect.arrayContaining(['POST /api/sms/bulk', 'GET /api/users', 'GET /api/audit', 'GET /api/sms/messages', 'GET /api/appointments']),
    );
    const failures = Object.entries(results).filter(([, status]) => !(status >= 200 && status < 300));
    expect(failures).toEqual([]);
    expect(prefilled).toEqual([]);
    // About 25 steps of up to STEP_MS each: CI's Node 24 leg once needed more than 60 s on a loaded machine.
  }, 240_000);
});
