import { UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Role } from '../users/role.enum.js';
import type { User } from '../users/user.entity.js';
import type { UsersService } from '../users/users.service.js';
import { DOUBLE_BEARER, MISSING_TOKEN, TokenAuthenticator } from './token-authenticator.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters!';
const USER_ID = '3f1c2a9e-5b7d-4c1e-9a0b-2d4e6f8a1c3e';

describe('TokenAuthenticator', () => {
  let jwt: JwtService;
  let user: Pick<User, 'id' | 'email' | 'role' | 'disabled' | 'tokenVersion'>;
  let users: { findForToken: ReturnType<typeof vi.fn> };
  let authenticator: TokenAuthenticator;
  const sign = (payload: Record<string, unknown>, options: { secret?: string; expiresIn?: number } = {}) =>
    `Bearer ${jwt.sign(payload, { secret: options.secret ?? SECRET, expiresIn: options.expiresIn ?? 3600 })}`;
  const claims = () => ({ sub: USER_ID, email: user.email, role: user.role, ver: user.tokenVersion });
  const refusal = (header: string | undefined) =>
    authenticator.authenticate(header).then(
      () => 'accepted',
      (error: unknown) => (error instanceof UnauthorizedException ? error.message : `not a 401: ${String(error)}`),
    );

  beforeEach(() => {
    jwt = new JwtService({ secret: SECRET, signOptions: { algorithm: 'HS256' } });
    user = { id: USER_ID, email: 'staff@example.com', role: Role.Admin, disabled: false, tokenVersion: 3 };
    users = { findForToken: vi.fn(async (id: string) => (id === USER_ID ? { ...user } : null)) };
    authenticator = new TokenAuthenticator(jwt, users as unknown as UsersService);
  });
  afterEach(() => vi.useRealTimers());

  it('returns the user as stored (the role from the database, not the token)', async () => {
    const header = sign({ ...claims(), role: Role.SuperAdmin });
    expect(await authenticator.authenticate(header)).toEqual({ id: USER_ID, email: 'staff@example.com', role: Role.Admin });
  });

  it('refuses a missing, malformed, forged or foreign-algorithm token with its reason', async () => {
    expect(await refusal(undefined)).toBe(MISSING_TOKEN);
    expect(await refusal('Basic abc')).toBe(MISSING_TOKEN);
    // "Bearer eyJ…" pasted into Swagger UI's Authorize: told what went wrong.
    expect(await refusal(`Bearer ${sign(claims())}`)).toBe(DOUBLE_BEARER);
    expect(await refusal('Bearer not.a.jwt')).toBe('Invalid token');
    expect(await refusal(sign(claims(), { secret: 'another-secret-of-at-least-thirty-two-chars' }))).toBe('Invalid token');
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims(), exp: 9e9 })).toString('base64url')}.`;
    expect(await refusal(`Bearer ${none}`)).toBe('Invalid token');
    // A token without an expiry would be valid forever: ours always carry one.
    expect(await refusal(`Bearer ${jwt.sign(claims(), { secret: SECRET })}`)).toBe('Invalid token');
  });

  it('checks a signature once per token, then only its expiry (and the user every time)', async () => {
    const verify = vi.spyOn(jwt, 'verify');
    const header = sign(claims());
    for (let i = 0; i < 3; i++) await authenticator.authenticate(header);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(users.findForToken).toHaveBeenCalledTimes(3);
  });

  it('refuses a known token once it has expired, and an expired token it never saw', async () => {
    vi.useFakeTimers({ now: new Date('2026-11-25T10:00:00Z'), toFake: ['Date'] });
    const header = sign(claims(), { expiresIn: 60 });
    await authenticator.authenticate(header);
    vi.setSystemTime(new Date('2026-11-25T10:01:00Z'));
    expect(await refusal(header)).toBe('The token has expired; sign in again');
    const fresh = new TokenAuthenticator(jwt, users as unknown as UsersService);
    expect(await fresh.authenticate(header).catch((e: Error) => e.message)).toBe('The token has expired; sign in again');
  });

  it('refuses a known token at once when the user is disabled or its version moved (revocation is not cached)', async () => {
    const header = sign(claims());
    await authenticator.authenticate(header);
    user.tokenVersion = 4;
    expect(await refusal(header)).toBe('This token was revoked; sign in again');
    user.tokenVersion = 3;
    user.disabled = true;
    expect(await refusal(header)).toBe('This account is disabled');
    users.findForToken.mockResolvedValue(null);
    expect(await refusal(header)).toBe('This token does not belong to an existing user');
    expect(await refusal(sign({ ...claims(), sub: 'not-a-uuid' }))).toBe('This token does not belong to an existing user');
  });

  it('keeps what it verified to itself: another app with another secret still refuses the token', async () => {
    const header = sign(claims());
    await authenticator.authenticate(header);
    const other = new TokenAuthenticator(
      new JwtService({ secret: 'another-secret-of-at-least-thirty-two-chars' }),
      users as unknown as UsersService,
    );
    expect(await other.authenticate(header).catch((e: Error) => e.message)).toBe('Invalid token');
  });
});
