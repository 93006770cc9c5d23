import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuthenticatedUser } from '../common/actor.js';
import { rolesRequiredMessage, routeAccess } from '../common/decorators/roles.decorator.js';

/** Global: a route marked @Roles(...) admits only those roles (403 for the others). */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    // The same reading states each route's roles in the OpenAPI document (createApiDocument).
    const access = routeAccess(this.reflector, context.getHandler(), context.getClass());
    if (access.kind !== 'roles') return true;
    const user = context.switchToHttp().getRequest<{ user?: AuthenticatedUser }>().user;
    if (user && access.roles.includes(user.role)) return true;
    throw new ForbiddenException(rolesRequiredMessage(access.roles));
  }
}
