import type { IncomingMessage } from 'node:http';
import { requestIdFor, saneRequestId } from './request-id.js';

const request = (value?: string | string[]) => ({ headers: value === undefined ? {} : { 'x-request-id': value } }) as IncomingMessage;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it.each(['abc', 'req-1234_5.6:7', 'a'.repeat(128), '4bf92f3577b34da6a3ce929d0e0e4736', 'trace/span+x=='])('keeps a sane id %j', (id) => {
    expect(saneRequestId(id)).toBe(id);
    expect(requestIdFor(request(id))).toBe(id);
  });

  it.each([
    ['empty', ''],
    ['too long', 'a'.repeat(129)],
    ['a space', 'a b'],
    ['a newline', 'a\nb'],
    ['a quote', 'a"b'],
    ['a brace', '{"a":1}'],
    ['non-ASCII', 'é'],
    ['a phone number', '+33612345678'],
    ['a phone number inside', 'appt:0612345678'],
    ['an email address', 'jean.dupont@example.fr'],
    ['an email address without a dot in its domain', 'ops@localhost'],
  ])('replaces an id with %s by a UUID', (_, id) => {
    expect(saneRequestId(id)).toBeUndefined();
    expect(requestIdFor(request(id))).toMatch(UUID);
  });

  it('generates a UUID without the header or with a repeated one', () => {
    expect(requestIdFor(request())).toMatch(UUID);
    expect(requestIdFor(request(['a', 'b']))).toMatch(UUID);
    expect(requestIdFor(request())).not.toBe(requestIdFor(request()));
  });
});
