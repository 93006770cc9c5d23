import { SetMetadata, type ExecutionContext, type Type } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { Role } from '../../users/role.enum.js';
import { IS_PUBLIC_KEY } from './public.decorator.js';

export const ROLES_KEY = 'roles';
/** Narrows a route (or a controller) to these roles; read by the global RolesGuard and stated in the OpenAPI document. */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);

/** Who may call a route: no sign-in needed, any signed-in user, or only these roles. */
export type RouteAccess = { kind: 'public' } | { kind: 'signed-in' } | { kind: 'roles'; roles: readonly Role[] };

/**
 * A route's access, read exactly as JwtAuthGuard and RolesGuard read it (`getAllAndOverride`): the method's
 * @Public / @Roles overrides its controller's, and an empty @Roles() admits any signed-in user.
 */
export function routeAccess(
  reflector: Reflector,
  handler: ReturnType<ExecutionContext['getHandler']>,
  controller: Type<unknown>,
): RouteAccess {
  const targets = [handler, controller];
  if (reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets)) return { kind: 'public' };
  const roles = reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
  return roles?.length ? { kind: 'roles', roles } : { kind: 'signed-in' };
}

/** The 403 RolesGuard answers to a signed-in user of another role. */
export const rolesRequiredMessage = (roles: readonly Role[]) => `This action requires one of the roles: ${roles.join(', ')}`;
