import { SetMetadata } from '@nestjs/common';
import type { Role } from '../../users/role.enum.js';

export const ROLES_KEY = 'roles';
/** Narrows a route (or a controller) to these roles; read by the global RolesGuard. */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
