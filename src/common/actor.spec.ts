import { clientIp, NOT_AN_IP } from './actor.js';

describe('clientIp', () => {
  it('keeps an IPv4 or IPv6 address, and makes anything else one short marker (a caller-written X-Forwarded-For)', () => {
    expect(clientIp({ ip: '203.0.113.7' })).toBe('203.0.113.7');
    expect(clientIp({ ip: '2001:db8::1' })).toBe('2001:db8::1');
    expect(clientIp({ ip: 'x'.repeat(10_000) })).toBe(NOT_AN_IP);
    // An IPv6 zone id is an IP to node:net at any length: kept only within the 45 characters of an IP column.
    expect(clientIp({ ip: 'fe80::1%eth0' })).toBe('fe80::1%eth0');
    expect(clientIp({ ip: 'fe80::1%' + 'a'.repeat(60) })).toBe(NOT_AN_IP);
    expect(clientIp({ ip: '203.0.113.7, 10.0.0.1' })).toBe(NOT_AN_IP);
    expect(clientIp({ ip: undefined as unknown as string })).toBe(NOT_AN_IP);
  });
});
