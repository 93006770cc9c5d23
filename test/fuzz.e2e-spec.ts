import pLimit from 'p-limit';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { TestApp } from './support/test-app.js';

/**
 * An OpenAPI-driven fuzzer: reads /api/docs-json and throws at every route (as the superadmin, and the
 * public login) malformed JSON, wrong types for each field, huge strings, odd Unicode (unpaired
 * surrogates, zero-width, right-to-left, NUL), prototype keys, injection strings, bad ids, absurd pages
 * and dates. Every answer must be a 2xx–4xx without a stack trace or SQL text. Bounded: a few thousand
 * requests per database, eight at a time.
 */

interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  items?: Schema;
  properties?: Record<string, Schema>;
  allOf?: Schema[];
  example?: unknown;
}
interface Operation {
  parameters?: { name: string; in: 'query' | 'path' | 'header'; schema?: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}
type Document = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } };

/** A prototype key that survives JSON.stringify (an object literal would set the prototype instead). */
const PROTO = JSON.parse('{"__proto__": {"polluted": true}}') as object;

/** Values for any one field of a body. */
const FIELD_VALUES: unknown[] = [
  null,
  0,
  -1,
  1e21,
  true,
  [],
  {},
  [[{ phone: '+33612345678' }]],
  '',
  ' ',
  'x'.repeat(20_000),
  '\ud800',
  '\udc00@x.io',
  'a\u0000b',
  '\u200b\u200d\ufeff',
  '\u202eevil\u202c',
  '😀'.repeat(50),
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '<script>alert(1)</script>',
  '{{name}}{{#name}}{{/name}}{{^x}}',
  '${jndi:ldap://x/a}',
  '../../../../etc/passwd',
  '2030-02-31T10:00:00Z',
  '2030-01-15T14:30',
  '0144556677',
  PROTO,
  { constructor: { prototype: { polluted: true } } },
];

/** Whole bodies, as raw text. */
const RAW_BODIES: string[] = [
  '{',
  '{"a":',
  '[',
  'nul',
  '{"a":1}}',
  '"text"',
  '123',
  'null',
  '[]',
  '{}',
  '\ufeff{}',
  `${'['.repeat(30_000)}${']'.repeat(30_000)}`,
  `{"a":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`,
  '{"email":"\\ud800@x.io","password":"x"}',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  `{${Array.from({ length: 3000 }, (_, i) => `"k${i}":1`).join(',')}}`,
];

/** Values for a query parameter, already URL-encoded (some on purpose not decodable). */
const QUERY_VALUES = [
  '',
  '-1',
  '0',
  '1e21',
  '99999999999999999999',
  '1.5',
  'abc',
  '%20',
  '%00',
  'a%00b',
  '%ED%A0%80',
  '%E2%80%8B',
  '%E2%80%AE',
  '%FF',
  encodeURIComponent("' OR 1=1 --"),
  encodeURIComponent('<script>'),
  'x'.repeat(3000),
  '2030-02-31',
  '2030-02-31T10:00:00Z',
  '2030-01-15T14:30',
  '__proto__',
  '[]',
  '%5B%5D',
];

const PATH_IDS = [
  'x',
  '0',
  '-1',
  '%27%20OR%201%3D1',
  '%00',
  '%ED%A0%80',
  'a'.repeat(300),
  '00000000-0000-0000-0000-000000000000',
  '..%2F..%2Fusers',
];

const LEAK =
  /QueryFailedError|SQLITE_|syntax error|violates|relation "|SELECT .* FROM|INSERT INTO|\bat \S+ \(|\.(?:ts|js):\d+:\d+|node_modules/i;

describeEachDatabase('Fuzzing every route from the OpenAPI document', (kind) => {
  let t: TestApp;
  let token: string;
  let doc: Document;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await TestApp.start(kind, { SMS_PROVIDER: 'dry-run', SMS_BULK_MAX_RECIPIENTS: '50' });
    token = await t.rootToken();
    doc = (await t.http.get('/api/docs-json').expect(200)).body as Document;
    // Real ids for the routes taking one; the fuzzed user is not the signed-in superadmin, whose
    // password or role change would end the run's token.
    ids['/api/users/{id}'] = (await t.userWithRole(Role.User)).id;
    const appointment = await t.http
      .post('/api/appointments')
      .set('Authorization', `Bearer ${token}`)
      .send({ clientName: 'Fuzz', clientPhone: '0612345678', startsAt: new Date(Date.now() + 7 * 86_400_000).toISOString() })
      .expect(201);
    ids.appointment = appointment.body.id;
    const sms = await t.http
      .post('/api/sms/send')
      .set('Authorization', `Bearer ${token}`)
      .send({ to: '0612345678', message: 'fuzz' })
      .expect(201);
    ids.message = sms.body.id;
  });
  afterAll(() => t?.close());

  const resolve = (schema: Schema | undefined): Schema => {
    if (!schema) return {};
    if (schema.$ref) return resolve(doc.components.schemas[schema.$ref.split('/').pop()!]);
    if (schema.allOf?.length)
      return schema.allOf.map(resolve).reduce((a, b) => ({ ...a, ...b, properties: { ...a.properties, ...b.properties } }), {});
    return schema;
  };

  /** A plausible value for a field, so the other fields' mutations reach validation of their own. */
  const sample = (name: string, raw: Schema | undefined): unknown => {
    const schema = resolve(raw);
    if (schema.example !== undefined) return schema.example;
    if (schema.enum?.length) return schema.enum[0];
    if (/phone|^to$/i.test(name)) return '0612345678';
    if (/email/i.test(name)) return 'fuzz@example.test';
    if (/startsAt|sendAt/.test(name)) return new Date(Date.now() + 86_400_000).toISOString();
    switch (schema.type) {
      case 'integer':
      case 'number':
        return 1;
      case 'boolean':
        return false;
      case 'array':
        return [sample(name, schema.items)];
      case 'object':
        return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, value]) => [key, sample(key, value)]));
      default:
        return 'text';
    }
  };

  it('answers every malformed request with a 4xx (or a 2xx), never a 5xx, a stack or SQL', { timeout: 240_000 }, async () => {
    const failures: string[] = [];
    const spent = new Map<string, number>();
    let count = 0;
    const limit = pLimit(8);
    const jobs: Promise<void>[] = [];

    const fire = (method: string, url: string, body?: string, contentType = 'application/json') =>
      jobs.push(
        limit(async () => {
          count++;
          const started = Date.now();
          let req = t.http[method as 'get'](url);
          if (!url.startsWith('/api/auth/login')) req = req.set('Authorization', `Bearer ${token}`);
          if (body !== undefined) req = req.set('Content-Type', contentType).send(body);
          const res = await req;
          const text = res.text ?? '';
          const route = `${method.toUpperCase()} ${url.split('?')[0]!.replace(/\/api\/(\w+)\/.*$/, '/api/$1/…')}`;
          spent.set(route, (spent.get(route) ?? 0) + Date.now() - started);
          if (res.status >= 500 || LEAK.test(text)) {
            failures.push(
              `${method.toUpperCase()} ${url.slice(0, 120)} ${(body ?? '').slice(0, 100)} → ${res.status} ${text.slice(0, 200)}`,
            );
          }
        }),
      );

    for (const [template, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const pathParams = (operation.parameters ?? []).filter((p) => p.in === 'path');
        const realId = ids[template] ?? (template.includes('appointments') ? ids.appointment : ids.message);
        const withId = (id: string) => pathParams.reduce((url, p) => url.replace(`{${p.name}}`, id), template);
        const url = withId(realId ?? PATH_IDS[7]!);

        for (const id of PATH_IDS) if (pathParams.length) fire(method, withId(id), method === 'get' ? undefined : '{}');

        for (const param of (operation.parameters ?? []).filter((p) => p.in === 'query')) {
          for (const value of QUERY_VALUES) fire(method, `${url}?${param.name}=${value}`);
          fire(method, `${url}?${param.name}=1&${param.name}=2`);
        }

        const schema = operation.requestBody?.content['application/json']?.schema;
        if (!schema) continue;
        const props = resolve(schema).properties ?? {};
        // A valid password in every request would hash it (argon2) hundreds of times: a PATCH leaves it
        // out and a creation sends one too short, except when the password itself is fuzzed.
        const base = Object.fromEntries(
          Object.entries(props)
            .filter(([key]) => !(method === 'patch' && key === 'password'))
            .map(([key, value]) => [key, key === 'password' && !template.includes('login') ? 'short' : sample(key, value)]),
        );
        for (const raw of RAW_BODIES) fire(method, url, raw);
        fire(method, url, 'email=a&__proto__[x]=1', 'application/x-www-form-urlencoded');
        fire(method, url, 'plain text', 'text/plain');
        for (const field of Object.keys(props)) {
          for (const value of FIELD_VALUES) fire(method, url, JSON.stringify({ ...base, [field]: value }));
          // The same values one level down, where a field holds objects (recipients[].phone, data.name).
          const nested = base[field];
          const item = Array.isArray(nested) ? nested[0] : nested;
          if (item && typeof item === 'object') {
            for (const key of Object.keys(item).length ? Object.keys(item) : ['name']) {
              for (const value of FIELD_VALUES.slice(0, 14)) {
                const inner = { ...(item as object), [key]: value };
                fire(method, url, JSON.stringify({ ...base, [field]: Array.isArray(nested) ? [inner] : inner }));
              }
            }
          }
        }
        fire(method, url, JSON.stringify({ ...base, unknown: 1 }));
      }
    }

    await Promise.all(jobs);
    if (process.env.FUZZ_TIMINGS) console.log([...spent].sort((a, b) => b[1] - a[1]).slice(0, 8));
    expect(count).toBeGreaterThan(1000);
    expect(count).toBeLessThan(6000);
    expect(failures, `${failures.length} of ${count} requests failed:\n${failures.slice(0, 40).join('\n')}`).toEqual([]);
  });
});
