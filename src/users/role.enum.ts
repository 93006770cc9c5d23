export enum Role {
  User = 'user',
  Admin = 'admin',
  SuperAdmin = 'superadmin',
}

export const ROLES = Object.values(Role);

/** Roles allowed to send SMS and manage appointments (the brief: admin and superadmin). */
export const STAFF_ROLES = [Role.Admin, Role.SuperAdmin] as const;
