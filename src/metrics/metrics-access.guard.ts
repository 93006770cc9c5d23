import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';
import type { AuthenticatedRequest } from '../auth/jwt-auth.guard.js';
import { bearerToken, TokenAuthenticator } from '../auth/token-authenticator.js';
import { Role } from '../users/role.enum.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** True when `presented` equals `expected`, in a time that depends on neither (both hashed first). */
export function tokensMatch(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * GET /api/metrics: `Authorization: Bearer <METRICS_TOKEN>` (a Prometheus scraper), compared in
 * constant time, or a superadmin's token. No or a bad token → 401 (the same messages as every other
 * route); another role → 403.
 */
@Injectable()
export class MetricsAccessGuard implements CanActivate {
  constructor(
    private readonly config: AppConfig,
    private readonly tokens: TokenAuthenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const bearer = bearerToken(request.headers.authorization);
    if (this.config.metricsToken && bearer && tokensMatch(bearer, this.config.metricsToken)) return true;
    const user = (request.user = await this.tokens.authenticate(request.headers.authorization));
    if (user.role !== Role.SuperAdmin) throw new ForbiddenException('The metrics are for a superadmin or the METRICS_TOKEN');
    return true;
  }
}
