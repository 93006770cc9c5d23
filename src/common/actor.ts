import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
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
  return { id: user.id, email: user.email, role: user.role, ip: request.ip };
});

/** `@ClientIp() ip: string` for public routes (sign-in). */
export const ClientIp = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): string => ctx.switchToHttp().getRequest<FastifyRequest>().ip,
);
