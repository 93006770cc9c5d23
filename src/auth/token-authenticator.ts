import { Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { AuthenticatedUser } from '../common/actor.js';
import { UsersService } from '../users/users.service.js';
import type { JwtPayload } from './auth.service.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BEARER = /^Bearer\s+(\S+)\s*$/i;
/** Tokens whose signature was checked, kept until they expire; past this many the oldest go first. */
const MAX_VERIFIED_TOKENS = 10_000;

export const MISSING_TOKEN = 'A bearer token is required (Authorization: Bearer <token>)';
/** `Bearer Bearer eyJ…`: what Swagger UI sends when "Bearer eyJ…" is pasted into Authorize. */
export const DOUBLE_BEARER =
  'The Authorization header says Bearer twice: send Bearer <token> (in Swagger UI, paste the access_token alone into Authorize, without "Bearer ")';
const DOUBLED = /^Bearer\s+Bearer\s/i;
/** `Bearer "eyJ…"`: the token copied with the quotes of the JSON answer it was read from. */
export const QUOTED_TOKEN =
  "The token is in quotes: send Bearer <token> without the quotes of the JSON answer it was copied from (access_token's value alone)";
const QUOTED = /^["'\u201c\u201d].*["'\u201c\u201d]$/;

/** The bearer token of an `Authorization` header, or undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  return typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
}

/**
 * Who a bearer token belongs to, as the user is now: the signature (HS256 only) and expiry are checked,
 * then the user is read (one batched look-up per event-loop turn): a disabled user, or a token whose
 * version (`ver`) is not the user's current one (the password changed, or the user was disabled since
 * it was signed), is refused; the role comes from the database, not the token.
 *
 * A token's signature is checked once: its payload is kept (bounded, per app) and only its expiry is
 * checked again, so a request does not pay for the HMAC and the decoding every time. Revocation does
 * not depend on this: the user's row is read on every request.
 */
@Injectable()
export class TokenAuthenticator {
  private readonly verified = new Map<string, JwtPayload>();

  constructor(
    private readonly jwt: JwtService,
    private readonly users: UsersService,
  ) {}

  /** 401 (UnauthorizedException) with the reason in words when the token is missing or not valid now. */
  async authenticate(header: string | string[] | undefined): Promise<AuthenticatedUser> {
    const token = bearerToken(header);
    if (!token) throw new UnauthorizedException(typeof header === 'string' && DOUBLED.test(header) ? DOUBLE_BEARER : MISSING_TOKEN);
    const payload = this.verify(token);
    const user = typeof payload.sub === 'string' && UUID.test(payload.sub) ? await this.users.findForToken(payload.sub) : null;
    if (!user) throw new UnauthorizedException('This token does not belong to an existing user');
    if (user.disabled) throw new UnauthorizedException('This account is disabled');
    // Exact, unlike an issue-time comparison (whole seconds): a token signed before the bump never passes.
    if (payload.ver !== user.tokenVersion) throw new UnauthorizedException('This token was revoked; sign in again');
    return { id: user.id, email: user.email, role: user.role };
  }

  private verify(token: string): JwtPayload {
    const known = this.verified.get(token);
    if (known) {
      if (!expired(known)) return known;
      this.verified.delete(token);
      throw new UnauthorizedException('The token has expired; sign in again');
    }
    let payload: JwtPayload;
    try {
      payload = this.jwt.verify<JwtPayload>(token, { algorithms: ['HS256'] });
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name !== 'TokenExpiredError' && QUOTED.test(token)) throw new UnauthorizedException(QUOTED_TOKEN);
      throw new UnauthorizedException(name === 'TokenExpiredError' ? 'The token has expired; sign in again' : 'Invalid token');
    }
    // Without an expiry a token would stay valid forever: ours always have one (JWT_EXPIRES_IN).
    if (typeof payload.exp !== 'number') throw new UnauthorizedException('Invalid token');
    if (this.verified.size >= MAX_VERIFIED_TOKENS) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, payload);
    return payload;
  }
}

function expired(payload: JwtPayload): boolean {
  return Date.now() >= payload.exp! * 1000;
}
