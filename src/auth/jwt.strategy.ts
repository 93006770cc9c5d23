import { Injectable, UnauthorizedException } from '@nestjs/common';
import { createSecretKey } from 'node:crypto';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { AuthenticatedUser } from '../common/actor.js';
import { AppConfig } from '../config/app-config.js';
import { UsersService } from '../users/users.service.js';
import type { JwtPayload } from './auth.service.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Checks the signature and expiry, then the user as it is now: a disabled user, or a token whose
 * version (`ver`) is not the user's current one (the password changed, or the user was disabled
 * since it was signed), is refused; the role comes from the database, not the token.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy) {
  constructor(
    config: AppConfig,
    private readonly users: UsersService,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      ignoreExpiration: false,
      // A KeyObject made once: given a string, jsonwebtoken tries it as a public key, then builds a
      // secret key, on every request (about a tenth of a send's CPU time).
      secretOrKey: createSecretKey(Buffer.from(config.jwt.secret)) as unknown as string,
      algorithms: ['HS256'],
    });
  }

  async validate(payload: JwtPayload): Promise<AuthenticatedUser> {
    const user = typeof payload.sub === 'string' && UUID.test(payload.sub) ? await this.users.findForToken(payload.sub) : null;
    if (!user) throw new UnauthorizedException('This token does not belong to an existing user');
    if (user.disabled) throw new UnauthorizedException('This account is disabled');
    // Exact, unlike an issue-time comparison (whole seconds): a token signed before the bump never passes.
    if (payload.ver !== user.tokenVersion) {
      throw new UnauthorizedException('This token was revoked; sign in again');
    }
    return { id: user.id, email: user.email, role: user.role };
  }
}
