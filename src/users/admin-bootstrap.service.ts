import { ConflictException, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';
import { PasswordService } from './password.service.js';
import { Role } from './role.enum.js';
import { UsersService } from './users.service.js';

const DEFAULT_ADMIN_EMAIL = 'admin@localhost';

/**
 * First start: with no superadmin, create one from ADMIN_EMAIL/ADMIN_PASSWORD; outside production,
 * without them, admin@localhost with a random password printed once so a newcomer can sign in.
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('AdminBootstrap');

  constructor(
    private readonly users: UsersService,
    private readonly passwords: PasswordService,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if ((await this.users.countSuperAdmins()) > 0) {
      await this.warnIfAdminPasswordIsNotUsed();
      // Every superadmin disabled (by hand in the database: the API always keeps one active): nobody can manage users.
      if ((await this.users.countActiveSuperAdmins()) === 0)
        this.logger.warn('No active superadmin: every superadmin account is disabled; enable one in the database (users.disabled)');
      return;
    }
    const email = this.config.admin.email ?? DEFAULT_ADMIN_EMAIL;
    const generated = !this.config.admin.password;
    const password = this.config.admin.password ?? randomBytes(12).toString('base64url');
    const existing = await this.users.findForSignIn(email);
    if (existing) {
      this.logger.warn(`No superadmin exists and ${email} is already a ${existing.role}; promote a user with PATCH /api/users/:id`);
      return;
    }
    try {
      await this.users.create({ email, password, role: Role.SuperAdmin, name: 'Administrator' }, null);
    } catch (error) {
      // Another instance starting at the same moment created it first.
      if (error instanceof ConflictException) return;
      throw error;
    }
    if (generated) {
      // Printed once, on purpose: the only way a newcomer learns it. Set ADMIN_PASSWORD to avoid it.
      this.logger.warn(`Created superadmin ${email} with the generated password: ${password}`);
    } else {
      this.logger.log(`Created superadmin ${email} with ADMIN_PASSWORD`);
    }
  }

  /**
   * ADMIN_PASSWORD makes the first superadmin only: set after that one exists (a newcomer who lost the generated
   * password), it changes nothing, and sign-in with it fails with no word why. Said at boot when it is not the
   * account's password (one hash check).
   */
  private async warnIfAdminPasswordIsNotUsed(): Promise<void> {
    const { password } = this.config.admin;
    if (!password) return;
    const email = this.config.admin.email ?? DEFAULT_ADMIN_EMAIL;
    const account = await this.users.findForSignIn(email);
    if (account && (await this.passwords.verify(account.passwordHash, password))) return;
    this.logger.warn(
      `ADMIN_PASSWORD is not ${email}'s password: it only sets the first superadmin's, created once; ` +
        'a superadmin changes a password with PATCH /api/users/:id (README: First start)',
    );
  }
}
