import { TestApp } from './support/test-app.js';

/** The subset of JSON Schema the generated document uses. */
interface Schema {
  $ref?: string;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: boolean | Schema;
}
interface Doc {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: Schema }> }> }>>;
  components: { schemas: Record<string, Schema> };
}

/**
 * The paths of `value` that `schema` does not declare: a client generated from the document, or a reader of
 * Swagger UI, would not know they exist. Objects without declared properties (free-form maps) are not walked.
 */
function undeclared(doc: Doc, schema: Schema, value: unknown, path: string, out: string[]): string[] {
  const resolve = (s: Schema): Schema => (s.$ref ? resolve(doc.components.schemas[s.$ref.split('/').pop()!]) : s);
  const s = resolve(schema);
  const parts = [s, ...(s.allOf ?? []).map(resolve)];
  if (Array.isArray(value)) {
    const items = parts.find((p) => p.items)?.items;
    if (items) value.forEach((item, i) => undeclared(doc, items, item, `${path}[${i}]`, out));
    return out;
  }
  if (value === null || typeof value !== 'object') return out;
  const properties = Object.assign({}, ...parts.map((p) => p.properties ?? {})) as Record<string, Schema>;
  const alternatives = [...(s.oneOf ?? []), ...(s.anyOf ?? [])];
  if (!Object.keys(properties).length) {
    if (alternatives.length) {
      // The alternative that declares the most of the value's keys.
      const misses = alternatives.map((alt) => undeclared(doc, alt, value, path, []));
      out.push(...misses.reduce((a, b) => (b.length < a.length ? b : a)));
    }
    return out;
  }
  for (const [key, child] of Object.entries(value)) {
    if (properties[key]) undeclared(doc, properties[key], child, `${path}.${key}`, out);
    else out.push(`${path}.${key}`);
  }
  return out;
}

// Every field an answer carries is in the OpenAPI document (Swagger UI, generated clients): the answers of
// every route, filled with real data (a send, a bulk batch, an appointment and its SMS, an opt-out, a user).
describe('OpenAPI document declares what the routes answer', () => {
  let t: TestApp;
  let doc: Doc;
  let auth: { Authorization: string };
  beforeAll(async () => {
    t = await TestApp.start('sqlite', { SMS_PROVIDER: 'dry-run' });
    doc = (await t.http.get('/api/docs-json').expect(200)).body;
    auth = { Authorization: `Bearer ${await t.rootToken()}` };
  });
  afterAll(() => t?.close());

  /** Asks `route` (`METHOD /template`) with these path values, checks the status and the answer against its schema. */
  async function check(route: string, values: Record<string, string>, status: number, body?: object, query?: object) {
    const [method, template] = route.split(' ');
    const url = template.replace(/\{(\w+)\}/g, (_, name: string) => values[name]);
    const call = t.http[method.toLowerCase() as 'get' | 'post' | 'patch' | 'delete'](url).set(auth);
    const res = await (body ? call.send(body) : query ? call.query(query) : call);
    expect(res.status, `${route}: ${JSON.stringify(res.body)}`).toBe(status);
    const schema = doc.paths[template]?.[method.toLowerCase()]?.responses[String(status)]?.content?.['application/json']?.schema;
    expect(schema, `${route} ${status} has a schema`).toBeDefined();
    expect(undeclared(doc, schema!, res.body, route, []), `${route} ${status}`).toEqual([]);
    return res.body;
  }

  it('stored messages, sends and batches', async () => {
    const sent = await check('POST /api/sms/send', {}, 201, { to: '0612345678', message: 'Bonjour' });
    await check('POST /api/sms/send', {}, 202, {
      to: '0612345678',
      message: 'Plus tard',
      sendAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    await check('POST /api/sms/notification', {}, 201, {
      to: '0612345679',
      type: 'appointment_confirmed',
      data: { name: 'Jean', date: 'lundi 15 janvier', time: '14:30' },
    });
    await check('GET /api/sms/messages/{id}', { id: sent.id }, 200);
    await check('GET /api/sms/messages', {}, 200);
    const bulk = await check('POST /api/sms/bulk', {}, 202, {
      recipients: [{ phone: '0612345670', name: 'Jean' }, { phone: 'not a number' }],
      message: 'Bonjour {{name}}',
    });
    await t.settle();
    await check('GET /api/sms/bulk/{batchId}', { batchId: bulk.batchId }, 200);
    await check('GET /api/sms/bulk/{batchId}/messages', { batchId: bulk.batchId }, 200);
    await check('POST /api/sms/format-phone', {}, 200, { phone: '0612345678' });
    await check('GET /api/sms/templates', {}, 200);
    await check('GET /api/sms/stats', {}, 200);
  });

  it('opt-outs, users, the journal and errors', async () => {
    await check('POST /api/sms/opt-outs', {}, 201, { phone: '0611111111' });
    await check('GET /api/sms/opt-outs', {}, 200);
    const user = await check('POST /api/users', {}, 201, {
      email: 'schema@example.test',
      password: 'a-long-enough-password',
      role: 'user',
    });
    await check('PATCH /api/users/{id}', { id: user.id }, 200, { name: 'Marie' });
    await check('GET /api/users', {}, 200);
    await check('GET /api/auth/me', {}, 200);
    await check('GET /api/audit', {}, 200);
    await check('POST /api/sms/send', {}, 400, { to: 'x' });
    await check('POST /api/sms/send', {}, 409, { to: '0611111111', message: 'Bonjour' });
  });

  it('appointments and their SMS', async () => {
    const startsAt = new Date(Date.now() + 3 * 86_400_000).toISOString();
    const created = await check('POST /api/appointments', {}, 201, { clientName: 'Jean Dupont', clientPhone: '0612345671', startsAt });
    await check('POST /api/appointments/{id}/confirm', { id: created.id }, 200);
    await t.settle();
    await check('GET /api/appointments/{id}', { id: created.id }, 200);
    await check('GET /api/appointments', {}, 200);
    await check('PATCH /api/appointments/{id}', { id: created.id }, 200, { location: 'Cabinet' });
    await check('POST /api/appointments/{id}/cancel', { id: created.id }, 200, { reason: 'Empêchement' });
  });
});
