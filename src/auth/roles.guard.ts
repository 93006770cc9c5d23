import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { clientIp, type AuthenticatedUser } from '../common/actor.js';
import { rolesRequiredMessage, routeAccess } from '../common/decorators/roles.decorator.js';
import { AccessDeniedJournal } from './access-denied-journal.js';

/** Global: a route marked @Roles(...) admits only those roles (403 for the others, journaled as access_denied). */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly journal: AccessDeniedJournal,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // The same reading states each route's roles in the OpenAPI document (createApiDocument).
    const access = routeAccess(this.reflector, context.getHandler(), context.getClass());
    if (access.kind !== 'roles') return true;
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: AuthenticatedUser }>();
    const user = request.user;
    if (user && access.roles.includes(user.role)) return true;
    if (user) {
      const route = request.routeOptions.url ?? request.url;
      await this.journal.refused({ ...user, ip: clientIp(request) }, request.method, route, access.roles);
    }
    throw new ForbiddenException(rolesRequiredMessage(access.roles));
  }
}
