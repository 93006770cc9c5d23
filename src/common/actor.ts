import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { isIP } from 'node:net';
import type { Role } from '../users/role.enum.js';

/** Who is acting, passed from controllers to services so every journal entry names its actor. */
export interface Actor {
  id: string;
  email: string;
  role: Role;
  ip?: string | null;
}

/** The authenticated user as set by JwtAuthGuard (TokenAuthenticator). */
export interface AuthenticatedUser {
  id: string;
  email: string;
  role: Role;
}

/** `@CurrentActor() actor: Actor`: the signed-in user plus the request's IP. */
export const CurrentActor = createParamDecorator((_data: unknown, ctx: ExecutionContext): Actor => {
  const request = ctx.switchToHttp().getRequest<FastifyRequest & { user?: AuthenticatedUser }>();
  const user = request.user!;
  return { id: user.id, email: user.email, role: user.role, ip: clientIp(request) };
});

/** `@ClientIp() ip: string` for public routes (sign-in). */
export const ClientIp = createParamDecorator((_data: unknown, ctx: ExecutionContext): string =>
  clientIp(ctx.switchToHttp().getRequest<FastifyRequest>()),
);

/** Written instead of a client "address" that is not one. */
export const NOT_AN_IP = 'not-an-ip';

/**
 * The client's IP as the service keeps it (journal, throttles, webhook refusals): `request.ip`, the peer or, with
 * TRUST_PROXY, the client a trusted proxy names. That name is written by whoever sent the header (with
 * `TRUST_PROXY=true`, the caller's own first `X-Forwarded-For` entry, of any length): anything but an IP address
 * is one short marker, so it can neither overflow the 64-character `ip` columns (a 500) nor make keys of any size.
 */
export function clientIp(request: Pick<FastifyRequest, 'ip'>): string {
  // An IPv6 zone id (`fe80::1%eth0`) is an IP to node:net at any length: kept only within an IPv6 text's 45 characters.
  return isIP(request.ip) && request.ip.length <= MAX_IP_LENGTH ? request.ip : NOT_AN_IP;
}

/** The longest textual IP address (IPv4-mapped IPv6, `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`). */
const MAX_IP_LENGTH = 45;
