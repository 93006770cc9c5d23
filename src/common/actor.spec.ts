import { clientIp, NOT_AN_IP } from './actor.js';

describe('clientIp', () => {
  it('keeps an IPv4 or IPv6 address, and makes anything else one short marker (a caller-written X-Forwarded-For)', () => {
    expect(clientIp({ ip: '203.0.113.7' })).toBe('203.0.113.7');
    expect(clientIp({ ip: '2001:db8::1' })).toBe('2001:db8::1');
    expect(clientIp({ ip: 'x'.repeat(10_000) })).toBe(NOT_AN_IP);
    expect(clientIp({ ip: '203.0.113.7, 10.0.0.1' })).toBe(NOT_AN_IP);
    expect(clientIp({ ip: undefined as unknown as string })).toBe(NOT_AN_IP);
  });
});
