import { ForbiddenException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuthenticatedUser } from '../common/actor.js';
import { Public } from '../common/decorators/public.decorator.js';
import { Roles } from '../common/decorators/roles.decorator.js';
import { Role } from '../users/role.enum.js';
import type { AccessDeniedJournal } from './access-denied-journal.js';
import { RolesGuard } from './roles.guard.js';

class StaffController {
  @Public()
  open() {}

  plain() {}

  @Roles(Role.Admin, Role.SuperAdmin)
  staffOnly() {}

  @Roles()
  emptyRoles() {}
}

@Roles(Role.SuperAdmin)
class SuperAdminController {
  inherited() {}

  @Roles(Role.User)
  overridden() {}

  @Public()
  open() {}
}

const user = (role: Role): AuthenticatedUser => ({ id: 'user-1', email: 'someone@example.com', role });

/** The slice of an ExecutionContext the guard reads: handler, class, and the request's user. */
function contextFor(controller: new () => object, method: string, requestUser?: AuthenticatedUser): ExecutionContext {
  const handler = (controller.prototype as Record<string, () => void>)[method];
  return {
    getHandler: () => handler,
    getClass: () => controller,
    switchToHttp: () => ({
      getRequest: () => ({ user: requestUser, method: 'POST', url: '/api/x?y=1', routeOptions: { url: '/api/x' }, ip: '127.0.0.1' }),
    }),
  } as unknown as ExecutionContext;
}

describe(RolesGuard.name, () => {
  let sut: RolesGuard;
  let refused: unknown[][];

  beforeEach(() => {
    refused = [];
    const journal = { refused: async (...args: unknown[]) => void refused.push(args) } as unknown as AccessDeniedJournal;
    sut = new RolesGuard(new Reflector(), journal);
  });

  describe('canActivate', () => {
    it('should let anyone through a public route, even without a user', async () => {
      expect(await sut.canActivate(contextFor(StaffController, 'open'))).toBe(true);
    });

    it('should let a public route through even inside a controller narrowed to roles', async () => {
      expect(await sut.canActivate(contextFor(SuperAdminController, 'open', user(Role.User)))).toBe(true);
    });

    it('should let any user through a route without @Roles', async () => {
      expect(await sut.canActivate(contextFor(StaffController, 'plain', user(Role.User)))).toBe(true);
    });

    it('should let any user through a route with an empty @Roles()', async () => {
      expect(await sut.canActivate(contextFor(StaffController, 'emptyRoles', user(Role.User)))).toBe(true);
    });

    it.each([Role.Admin, Role.SuperAdmin])('should let a %s through a route for admin and superadmin', async (role) => {
      expect(await sut.canActivate(contextFor(StaffController, 'staffOnly', user(role)))).toBe(true);
    });

    it('should refuse another role with a 403 naming the roles required, and journal who tried which route', async () => {
      const act = () => sut.canActivate(contextFor(StaffController, 'staffOnly', user(Role.User)));

      await expect(act()).rejects.toThrow(ForbiddenException);
      await expect(act()).rejects.toThrow('This action requires one of the roles: admin, superadmin');
      expect(refused[0]).toEqual([{ ...user(Role.User), ip: '127.0.0.1' }, 'POST', '/api/x', [Role.Admin, Role.SuperAdmin]]);
    });

    it('should refuse a request without a user on a route with @Roles (nobody to journal)', async () => {
      await expect(sut.canActivate(contextFor(StaffController, 'staffOnly'))).rejects.toThrow(ForbiddenException);
      expect(refused).toEqual([]);
    });

    it("should apply the controller's @Roles to its routes", async () => {
      expect(await sut.canActivate(contextFor(SuperAdminController, 'inherited', user(Role.SuperAdmin)))).toBe(true);
      await expect(sut.canActivate(contextFor(SuperAdminController, 'inherited', user(Role.Admin)))).rejects.toThrow(
        'This action requires one of the roles: superadmin',
      );
    });

    it("should let a route's @Roles override its controller's", async () => {
      expect(await sut.canActivate(contextFor(SuperAdminController, 'overridden', user(Role.User)))).toBe(true);
      await expect(sut.canActivate(contextFor(SuperAdminController, 'overridden', user(Role.SuperAdmin)))).rejects.toThrow(
        ForbiddenException,
      );
    });
  });
});
