import { vi } from 'vitest';
import { Clock } from '../src/common/clock.js';
import { LOGGED_QUERY_KEYS } from '../src/common/log-safe.js';
import { TestApp } from './support/test-app.js';

interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header' | 'cookie';
  required?: boolean;
  example?: unknown;
  examples?: unknown;
  schema?: { type?: string; $ref?: string; allOf?: unknown[]; example?: unknown };
}
interface Operation {
  tags?: string[];
  parameters?: Parameter[];
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface OpenApiDocument {
  info: { title: string };
  tags?: { name: string }[];
  paths: Record<string, Record<string, Operation>>;
}

const PRIMITIVES = ['string', 'integer', 'number', 'boolean'];

// The generated OpenAPI document is what Swagger UI executes: these rules keep every route usable from its defaults.
describe('OpenAPI document (/api/docs-json)', () => {
  let t: TestApp;
  let doc: OpenApiDocument;
  const operations: { route: string; op: Operation }[] = [];
  beforeAll(async () => {
    t = await TestApp.start('sqlite');
    const res = await t.http.get('/api/docs-json').expect(200);
    doc = res.body;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) operations.push({ route: `${method.toUpperCase()} ${path}`, op });
    }
  });
  afterAll(() => t?.close());

  it('documents every route', () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
  });

  it('gives every parameter a primitive schema type (never an object Swagger UI would parse as JSON)', () => {
    const bad = operations.flatMap(({ route, op }) =>
      (op.parameters ?? []).filter((p) => !PRIMITIVES.includes(p.schema?.type ?? '')).map((p) => `${route} ${p.in}:${p.name}`),
    );
    expect(bad).toEqual([]);
  });

  it('pre-fills no query filter: no query parameter carries an example', () => {
    const bad = operations.flatMap(({ route, op }) =>
      (op.parameters ?? [])
        .filter((p) => p.in === 'query' && (p.example !== undefined || p.examples !== undefined || p.schema?.example !== undefined))
        .map((p) => `${route} ${p.name}`),
    );
    expect(bad).toEqual([]);
  });

  it('requires no query or header parameter (GET /api/sms/templates included)', () => {
    const bad = operations.flatMap(({ route, op }) =>
      (op.parameters ?? []).filter((p) => (p.in === 'header' || p.in === 'query') && p.required).map((p) => `${route} ${p.in}:${p.name}`),
    );
    expect(bad).toEqual([]);
    const templates = doc.paths['/api/sms/templates'].get.parameters ?? [];
    expect(templates.filter((p) => p.in === 'header').map((p) => p.name)).toEqual(['Accept-Language']);
  });

  it('documents a 2xx answer with a response class on every operation (not only an example)', () => {
    const isClass = (schema: unknown) => {
      const s = schema as { $ref?: string; type?: string; items?: { $ref?: string } } | undefined;
      return Boolean(s?.$ref || (s?.type === 'array' && s.items?.$ref));
    };
    // GET /api/metrics answers Prometheus' text format (text/plain), not JSON.
    const textOnly = (op: (typeof operations)[number]['op']) =>
      Object.entries(op.responses).some(([status, response]) => /^2/.test(status) && response.content?.['text/plain']);
    const bad = operations
      .filter(({ op }) => !textOnly(op))
      .filter(({ op }) =>
        Object.entries(op.responses).every(
          // Any media type: the Twilio inbound webhook answers TwiML (text/xml), described by a class too.
          ([status, response]) => !/^2/.test(status) || !Object.values(response.content ?? {}).some((media) => isClass(media.schema)),
        ),
      )
      .map(({ route }) => route);
    expect(bad).toEqual([]);
  });

  it('documents the errors each route can give', () => {
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path][method].responses);
    // Notification fails the ways send does; bulk is accepted at once and says how its messages fail.
    for (const path of ['/api/sms/send', '/api/sms/notification']) {
      expect(statuses(path, 'post'), path).toEqual(expect.arrayContaining(['400', '401', '403', '422', '502', '503', '504']));
    }
    // 409: the number opted out (the error's opt-out fields documented), or the same Idempotency-Key still running.
    const schemas = (doc as unknown as { components: { schemas: Record<string, { properties: Record<string, unknown> }> } }).components
      .schemas;
    for (const path of ['/api/sms/send', '/api/sms/notification']) {
      const conflict = doc.paths[path].post.responses['409'] as {
        description: string;
        content: Record<string, { schema: { $ref: string } }>;
      };
      expect(conflict.description, path).toMatch(/OPTED_OUT.*Idempotency-Key/s);
      const schema = schemas[conflict.content['application/json'].schema.$ref.split('/').pop()!];
      expect(Object.keys(schema.properties), path).toEqual(
        expect.arrayContaining(['code', 'to', 'optedOutAt', 'optOutSource', 'messageId']),
      );
    }
    expect((doc.paths['/api/sms/bulk'].post.responses['409'] as { description: string }).description).toMatch(/Idempotency-Key/);
    // 422: an Idempotency-Key used again with another body, on every route that takes one.
    for (const path of ['/api/sms/send', '/api/sms/notification', '/api/sms/bulk']) {
      expect((doc.paths[path].post.responses['422'] as { description: string } | undefined)?.description, path).toMatch(
        /Idempotency-Key was already used/,
      );
    }
    expect(statuses('/api/sms/bulk', 'post')).toEqual(expect.arrayContaining(['202', '400', '401', '403']));
    expect((doc.paths['/api/sms/bulk'].post.responses['202'] as { description: string }).description).toMatch(/21211.*TIMEOUT.*20003/s);
    const missing = operations
      .filter(({ route }) => !route.startsWith('GET /api/health') && !route.startsWith('GET /api/docs'))
      .filter(({ op }) => !Object.keys(op.responses).some((status) => /^4/.test(status)))
      .map(({ route }) => route);
    expect(missing).toEqual([]);
    const confirm = doc.paths['/api/appointments/{id}/confirm'].post.responses['409'] as {
      content: Record<string, { example?: { message: string } }>;
    };
    expect(confirm.content['application/json'].example?.message).toMatch(/confirmed/);
    // The cancellations' 409 carry the status now (and a message's SID once Twilio has it).
    const conflictFields = (path: string) => {
      const conflict = doc.paths[path].post.responses['409'] as { content: Record<string, { schema: { $ref: string } }> };
      return Object.keys(schemas[conflict.content['application/json'].schema.$ref.split('/').pop()!].properties);
    };
    expect(conflictFields('/api/sms/bulk/{batchId}/cancel')).toContain('currentStatus');
    expect(conflictFields('/api/sms/messages/{id}/cancel')).toEqual(expect.arrayContaining(['currentStatus', 'sid']));
  });

  it("documents the database's 503 and 504 on every route that uses it, beside a route's own (Twilio's)", () => {
    const undocumented = operations
      .filter(({ route }) => !route.startsWith('GET /api/health') && !route.startsWith('GET /api/docs'))
      .filter(({ op }) => !op.responses['503'] || !op.responses['504'])
      .map(({ route }) => route);
    expect(undocumented).toEqual([]);
    const description = (path: string, method: string, status: string) =>
      (doc.paths[path][method].responses[status] as { description: string }).description;
    expect(description('/api/users', 'get', '503')).toMatch(/database is unavailable or busy: nothing was stored/);
    expect(description('/api/users', 'post', '504')).toMatch(/database did not answer a write: it may have been stored/);
    expect(description('/api/sms/send', 'post', '503')).toMatch(/^Twilio rate limit.*database is unavailable or busy: nothing was stored/);
    expect(description('/api/sms/send', 'post', '504')).toMatch(/^Twilio did not answer in time.*database did not answer a write/);
  });

  it('pre-fills every PATCH body with one change, not with every field of the schema', () => {
    const patches = operations.filter(({ route }) => route.startsWith('PATCH '));
    expect(patches.map(({ route }) => route).sort()).toEqual(['PATCH /api/appointments/{id}', 'PATCH /api/users/{id}']);
    for (const { route, op } of patches) {
      const body = (op as unknown as { requestBody?: { content: Record<string, { examples?: Record<string, { value: object }> }> } })
        .requestBody;
      const examples = Object.values(body?.content['application/json'].examples ?? {});
      expect(examples.length, route).toBeGreaterThan(1);
      for (const example of examples) expect(Object.keys(example.value), route).toHaveLength(1);
    }
  });

  it('lists the tags in the order a newcomer needs them, auth first', () => {
    expect(doc.tags?.map((tag) => tag.name)).toEqual(['auth', 'sms', 'appointments', 'users', 'audit', 'health']);
    const used = new Set(operations.flatMap(({ op }) => op.tags ?? []));
    expect([...used].sort()).toEqual([...(doc.tags ?? []).map((tag) => tag.name)].sort());
  });

  it('names the service in the document and in the Swagger UI page title', async () => {
    expect(doc.info.title).toMatch(/SMS backbone/);
    const page = await t.http.get('/api/docs').redirects(1);
    expect(page.text).toMatch(/<title>SMS backbone API<\/title>/);
  });

  it('shows {{name}} in the bulk example', () => {
    const schemas = (doc as unknown as { components: { schemas: Record<string, { properties: Record<string, { example?: unknown }> }> } })
      .components.schemas;
    expect(schemas.SendBulkSmsDto.properties.message.example).toMatch(/\{\{name\}\}/);
  });

  it('gives examples a newcomer can run one after another: a sendAt the route accepts, an opt-out that blocks no send example', async () => {
    const schemas = (doc as unknown as { components: { schemas: Record<string, { properties: Record<string, { example?: unknown }> }> } })
      .components.schemas;
    const sendAt = schemas.SendSmsDto.properties.sendAt.example as string;
    const root = { Authorization: `Bearer ${await t.rootToken()}` };
    const send = { to: schemas.SendSmsDto.properties.to.example, message: schemas.SendSmsDto.properties.message.example };
    await t.http.post('/api/sms/opt-outs').set(root).send({ phone: schemas.CreateOptOutDto.properties.phone.example }).expect(201);
    const later = await t.http
      .post('/api/sms/send')
      .set(root)
      .send({ ...send, sendAt })
      .expect(202);
    expect(later.body).toMatchObject({ state: 'queued' });
    await t.http.post('/api/sms/send').set(root).send(send).expect(201);
  });

  it('documents the 413 and 415 every route taking a JSON body answers, and each is what the route answers', async () => {
    const withBody = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, op]) => (op as { requestBody?: { content?: Record<string, unknown> } }).requestBody?.content?.['application/json'])
        .map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op })),
    );
    expect(withBody.length).toBeGreaterThanOrEqual(10);
    for (const { route, op } of withBody) expect(Object.keys(op.responses), route).toEqual(expect.arrayContaining(['413', '415']));
    const root = { Authorization: `Bearer ${await t.rootToken()}` };
    await t.http.post('/api/sms/send').set(root).set('Content-Type', 'text/plain').send('Bonjour').expect(415);
    await t.http
      .post('/api/sms/send')
      .set(root)
      .send({ to: '+33612345678', message: 'x'.repeat(2_000_000) })
      .expect(413);
  });

  it('documents the ids in paths as UUIDs, as the routes refuse anything else', async () => {
    const ids = operations.flatMap(({ route, op }) =>
      (op.parameters ?? []).filter((p) => p.in === 'path' && /^(id|batchId)$/.test(p.name)).map((p) => ({ route, p })),
    );
    expect(ids.length).toBeGreaterThanOrEqual(10);
    for (const { route, p } of ids) expect((p.schema as { format?: string }).format, `${route} ${p.name}`).toBe('uuid');
    const root = { Authorization: `Bearer ${await t.rootToken()}` };
    const refused = await t.http.get('/api/sms/messages/not-a-uuid').set(root).expect(400);
    expect(refused.body.details).toEqual([{ field: 'id', problems: [expect.stringMatching(/^id must be a UUID/)] }]);
  });

  it("documents the fields Twilio's webhooks are read for (the 400s name them)", () => {
    type Form = { requestBody: { content: Record<string, { schema: { required: string[]; properties: Record<string, unknown> } }> } };
    const form = (path: string) =>
      (doc.paths[path].post as unknown as Form).requestBody.content['application/x-www-form-urlencoded'].schema;
    expect(form('/api/sms/webhooks/status').required).toEqual(['MessageSid', 'MessageStatus']);
    expect(Object.keys(form('/api/sms/webhooks/status').properties)).toEqual(['MessageSid', 'MessageStatus', 'ErrorCode']);
    expect(form('/api/sms/webhooks/inbound').required).toEqual(['MessageSid', 'From']);
    expect(Object.keys(form('/api/sms/webhooks/inbound').properties)).toEqual(['MessageSid', 'From', 'To', 'Body', 'OptOutType']);
  });

  it("documents a cancellation's body as optional, as the route takes none", () => {
    const cancel = doc.paths['/api/appointments/{id}/cancel'].post as unknown as { requestBody: { required?: boolean } };
    expect(cancel.requestBody.required).toBe(false);
  });

  it('answers a route written with a trailing slash as the route itself, not 404', async () => {
    const root = { Authorization: `Bearer ${await t.rootToken()}` };
    const listed = await t.http.get('/api/sms/messages/?limit=1').set(root).expect(200);
    expect(listed.body).toMatchObject({ page: 1, limit: 1 });
    await t.http.post('/api/sms/format-phone/').set(root).send({ phone: '0612345678' }).expect(200);
    await t.http.get('/api/health/live/').expect(200);
    await t.http.get('/api/docs/').expect(200);
  });

  it('logs the value of every documented query parameter (LOGGED_QUERY_KEYS), and only those', () => {
    const documented = new Set(operations.flatMap(({ op }) => (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name)));
    expect([...LOGGED_QUERY_KEYS].sort()).toEqual([...documented].sort());
  });

  it('types what the answers carry: null where an answer can hold null, a number where the data accepts one', () => {
    const schemas = (doc as unknown as { components: { schemas: Record<string, { properties: Record<string, Record<string, unknown>> }> } })
      .components.schemas;
    // A cancel refused once Twilio has the message: its SID, text or null (a reflected `string | null` was typed object).
    expect(schemas.MessageConflictResponseDto.properties.sid).toMatchObject({ type: 'string', nullable: true });
    // A TIMEOUT or NETWORK failure answers more_info: null.
    expect(schemas.SmsErrorResponseDto.properties.more_info).toMatchObject({ type: 'string', nullable: true });
    // A value out of a list (locale "de") answers the accepted ones.
    expect(schemas.ErrorResponseDto.properties.allowed).toMatchObject({ type: 'array', items: { type: 'string' } });
    // Stats without a kind or category filter answer null for it.
    expect(schemas.SmsStatsFiltersDto.properties.kind.enum).toContain(null);
    expect(schemas.SmsStatsFiltersDto.properties.category.enum).toContain(null);
    expect(schemas.SendNotificationDto.properties.data.additionalProperties).toEqual({ oneOf: [{ type: 'string' }, { type: 'number' }] });
  });

  it("keeps sendAt's example the day after now however long the service has been up (the document is built at boot)", async () => {
    const later = new Date(Date.now() + 3 * 86_400_000);
    vi.spyOn(t.get(Clock), 'now').mockReturnValue(later);
    try {
      const served = (await t.http.get('/api/docs-json').expect(200)).body as {
        components: { schemas: Record<string, { properties: Record<string, { example?: unknown }> }> };
      };
      const tomorrow = new Date(later.getTime() + 86_400_000).toISOString().slice(0, 10);
      for (const dto of ['SendSmsDto', 'SendNotificationDto', 'SendBulkSmsDto']) {
        expect(served.components.schemas[dto].properties.sendAt.example).toBe(`${tomorrow}T14:30:00+01:00`);
      }
      // Swagger UI's page embeds the same document.
      const init = await t.http.get('/api/docs/swagger-ui-init.js').expect(200);
      expect(init.text).toContain(`${tomorrow}T14:30:00+01:00`);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
