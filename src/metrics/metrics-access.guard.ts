import { ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthenticatedUser } from '../common/actor.js';
import { AppConfig } from '../config/app-config.js';
import { JwtAuthGuard } from '../auth/jwt-auth.guard.js';
import { Role } from '../users/role.enum.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** True when `presented` equals `expected`, in a time that depends on neither (both hashed first). */
export function tokensMatch(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * GET /api/metrics: `Authorization: Bearer <METRICS_TOKEN>` (a Prometheus scraper), compared in
 * constant time, or a superadmin's token. No or a bad token → 401; another role → 403.
 */
@Injectable()
export class MetricsAccessGuard extends AuthGuard('jwt') {
  constructor(private readonly config: AppConfig) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    const header = request.headers.authorization;
    const bearer = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    if (this.config.metricsToken && bearer && tokensMatch(bearer, this.config.metricsToken)) return true;
    await super.canActivate(context);
    const user = context.switchToHttp().getRequest<{ user?: AuthenticatedUser }>().user;
    if (user?.role !== Role.SuperAdmin) throw new ForbiddenException('The metrics are for a superadmin or the METRICS_TOKEN');
    return true;
  }

  // Same 401 messages as every other route.
  override handleRequest<TUser>(error: unknown, user: TUser, info: unknown): TUser {
    return JwtAuthGuard.prototype.handleRequest.call(this, error, user, info) as TUser;
  }
}
