import { BadRequestException, ConflictException, ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, QueryFailedError, Repository } from 'typeorm';
import { AuditAction } from '../audit/audit-action.enum.js';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { BatchLoader } from '../common/batch-loader.js';
import { runTransaction } from '../database/transactions.js';
import { Page, PaginationQueryDto, toPage } from '../common/dto/pagination.dto.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import { CreateUserDto, UpdateUserDto, UserView } from './dto/user.dto.js';
import { PasswordService } from './password.service.js';
import { Role } from './role.enum.js';
import { User } from './user.entity.js';

/** What a token check needs to know of its user. */
const TOKEN_COLUMNS = ['id', 'email', 'role', 'disabled', 'tokenVersion'] as const;

/** Roles only a superadmin may grant, or act on. */
const PRIVILEGED_ROLES: Role[] = [Role.Admin, Role.SuperAdmin];

function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as { code?: string };
  return driverError?.code === '23505' || driverError?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly passwords: PasswordService,
    private readonly phones: PhoneNumberService,
    private readonly audit: AuditService,
  ) {}

  findById(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  /**
   * The user as it is now, for checking a token on every request: look-ups made together are one
   * query, and nothing is cached, so a disabled user or a new password takes effect at once.
   */
  findForToken(id: string): Promise<User | null> {
    return this.tokenLoader.load(id);
  }

  private readonly tokenLoader = new BatchLoader<string, User>(async (ids) => {
    // Plain SQL through the driver: TypeORM's query builder cost more CPU than the look-up itself,
    // and this runs on every authenticated request.
    const { metadata, manager } = this.users;
    const driver = manager.connection.driver;
    const postgres = driver.options.type === 'postgres';
    const columns = TOKEN_COLUMNS.map((name) => metadata.findColumnWithPropertyName(name)!);
    const slots = ids.map((_, i) => (postgres ? `$${i + 1}` : '?')).join(', ');
    const rows: Record<string, unknown>[] = await this.users.query(
      `SELECT ${columns.map((c) => driver.escape(c.databaseName)).join(', ')} FROM ${driver.escape(metadata.tableName)} WHERE ${driver.escape('id')} IN (${slots})`,
      ids,
    );
    return new Map(
      rows.map((row) => {
        const user = Object.fromEntries(columns.map((c) => [c.propertyName, driver.prepareHydratedValue(row[c.databaseName], c)])) as User;
        return [user.id, user];
      }),
    );
  });

  /** With the password hash, for sign-in only. */
  findForSignIn(email: string): Promise<User | null> {
    return this.users
      .createQueryBuilder('user')
      .addSelect('user.passwordHash')
      .where('user.email = :email', { email: email.trim().toLowerCase() })
      .getOne();
  }

  /**
   * A user's own new password (POST /api/auth/me/password), the current one checked against `checked` (the hash read
   * with `user`, and its token version): one conditional UPDATE, applied only if neither changed meanwhile and the
   * account is still enabled, that bumps the version (every earlier token revoked) and is journaled in the same
   * transaction. Answers the new version, or null when something changed in between (an admin's reset or disable,
   * another change of one's own).
   */
  async setOwnPassword(user: User, checked: string, password: string, actor: Actor): Promise<number | null> {
    const hash = await this.passwords.hash(password);
    const applied = await runTransaction(this.users.manager.connection, async (manager) => {
      const result = await manager.update(
        User,
        { id: user.id, passwordHash: checked, tokenVersion: user.tokenVersion, disabled: false },
        { passwordHash: hash, tokenVersion: () => 'token_version + 1' },
      );
      if (!result.affected) return false;
      await this.audit.record(
        {
          action: AuditAction.UserUpdated,
          actor,
          target: { type: 'user', id: user.id },
          metadata: { email: user.email, changed: ['password'], role: user.role, disabled: false, self: true },
        },
        manager,
      );
      return true;
    });
    return applied ? user.tokenVersion + 1 : null;
  }

  /**
   * Stores a new hash of the same password (made at the configured cost) in place of `previous`, unless the password
   * changed meanwhile. Tokens stay valid: the password is the same.
   */
  async upgradePasswordHash(id: string, previous: string, next: string): Promise<boolean> {
    const result = await this.users.update({ id, passwordHash: previous }, { passwordHash: next });
    return (result.affected ?? 0) > 0;
  }

  async list(query: PaginationQueryDto): Promise<Page<UserView>> {
    const [users, total] = await this.users.findAndCount({
      order: { createdAt: 'ASC', id: 'ASC' },
      skip: (query.page - 1) * query.limit,
      take: query.limit,
    });
    return toPage(users.map(UserView.from), total, query);
  }

  async create(dto: CreateUserDto, actor: Actor | null): Promise<UserView> {
    if (actor && PRIVILEGED_ROLES.includes(dto.role) && actor.role !== Role.SuperAdmin) {
      throw await this.refused(actor, null, `Only a superadmin can create a user with the role ${dto.role}`, {
        attempted: 'create',
        email: dto.email.toLowerCase(),
        role: dto.role,
      });
    }
    const user = this.users.create({
      email: dto.email.toLowerCase(),
      passwordHash: await this.passwords.hash(dto.password),
      role: dto.role,
      name: dto.name || null,
      phone: dto.phone ? this.phones.normalize(dto.phone, { field: 'phone' }) : null,
      disabled: false,
    });
    // The account and its journal entry are committed together: no user without its user_created entry.
    try {
      await runTransaction(this.users.manager.connection, async (manager) => {
        await manager.insert(User, user);
        await this.audit.record(
          {
            action: AuditAction.UserCreated,
            actor,
            target: { type: 'user', id: user.id },
            metadata: { email: user.email, role: user.role },
          },
          manager,
        );
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictException(`A user with the email ${user.email} already exists`);
      throw error;
    }
    return UserView.from((await this.findById(user.id))!);
  }

  async update(id: string, dto: UpdateUserDto, actor: Actor): Promise<UserView> {
    const user = await this.findById(id);
    if (!user) throw new NotFoundException(`No user with id ${id}`);
    const isSuper = actor.role === Role.SuperAdmin;
    const attempted = { attempted: 'update', email: user.email, role: user.role, fields: sentFields(dto) };
    if (!isSuper && PRIVILEGED_ROLES.includes(user.role) && user.id !== actor.id) {
      throw await this.refused(actor, user.id, 'Only a superadmin can change an admin or a superadmin', attempted);
    }
    if (dto.role && dto.role !== user.role && !isSuper) {
      throw await this.refused(actor, user.id, 'Only a superadmin can change roles', { ...attempted, requestedRole: dto.role });
    }
    if (dto.password !== undefined && user.id === actor.id) {
      // One's own password changes only with the current one, under the sign-in limits and journaled on a wrong
      // guess: a stolen admin token must not be enough to take the account over for good.
      const problem = 'password cannot be changed here for your own account: use POST /api/auth/me/password';
      throw new BadRequestException({ message: problem, details: [{ field: 'password', problems: [problem] }] });
    }
    const changes: Partial<User> = {};
    const changed: string[] = [];
    if (dto.role !== undefined && dto.role !== user.role) {
      changes.role = dto.role;
      changed.push('role');
    }
    // A field sent with the value it already has is not a change (nor journaled as one).
    const name = dto.name === undefined ? undefined : dto.name || null;
    if (name !== undefined && name !== user.name) {
      changes.name = name;
      changed.push('name');
    }
    const phone = dto.phone === undefined ? undefined : dto.phone ? this.phones.normalize(dto.phone, { field: 'phone' }) : null;
    if (phone !== undefined && phone !== user.phone) {
      changes.phone = phone;
      changed.push('phone');
    }
    if (dto.password !== undefined) {
      changes.passwordHash = await this.passwords.hash(dto.password);
      changed.push('password');
    }
    if (dto.disabled !== undefined && dto.disabled !== user.disabled) {
      if (dto.disabled && user.id === actor.id) {
        const problem = 'You cannot disable your own account';
        throw new BadRequestException({ message: problem, details: [{ field: 'disabled', problems: [problem] }] });
      }
      changes.disabled = dto.disabled;
      changed.push('disabled');
    }
    // Only an active superadmin counts: demoting or disabling a disabled one changes nothing.
    const losesSuper =
      user.role === Role.SuperAdmin && !user.disabled && ((changes.role && changes.role !== Role.SuperAdmin) || changes.disabled);
    if (changed.length) {
      // A new password or a disable revokes every token issued so far (the strategy compares versions).
      const revokes = changes.passwordHash !== undefined || changes.disabled === true;
      const set = { ...changes, ...(revokes ? { tokenVersion: () => 'token_version + 1' } : {}) } as Partial<User>;
      // Committed with the change itself: no change without its user_updated entry.
      await this.applyUpdate(user, set, !!losesSuper, (manager) =>
        this.audit.record(
          {
            action: AuditAction.UserUpdated,
            actor,
            target: { type: 'user', id },
            // Which fields changed, the new role/state and what a changed one was before; never the password.
            metadata: {
              email: user.email,
              changed,
              role: changes.role ?? user.role,
              disabled: changes.disabled ?? user.disabled,
              ...(changes.role ? { previousRole: user.role } : {}),
              ...(changes.disabled !== undefined ? { previousDisabled: user.disabled } : {}),
            },
          },
          manager,
        ),
      );
    }
    return UserView.from((await this.findById(id))!);
  }

  /**
   * A change only a superadmin may make, asked by another role: journaled (`user_change_refused`: who tried what on
   * whom; never a password, only the names of the fields sent) before the 403 it answers.
   */
  private async refused(
    actor: Actor,
    targetId: string | null,
    message: string,
    metadata: Record<string, unknown>,
  ): Promise<ForbiddenException> {
    await this.audit.record({
      action: AuditAction.UserChangeRefused,
      actor,
      target: { type: 'user', id: targetId },
      metadata: { ...metadata, reason: message },
    });
    return new ForbiddenException(message);
  }

  async countSuperAdmins(): Promise<number> {
    return this.users.countBy({ role: Role.SuperAdmin });
  }

  async countActiveSuperAdmins(): Promise<number> {
    return this.users.countBy({ role: Role.SuperAdmin, disabled: false });
  }

  /**
   * Writes a change only if the user's role and state are still those it was decided on (read at the start of
   * `update`): who may change the account, and whether it takes an active superadmin away, were judged from them. A
   * change made meanwhile (a promotion while an admin set the password; a promotion while another request disabled
   * the account, then the last other superadmin demoted) is a 409, never applied over it.
   *
   * A change that takes an active superadmin away (`keepASuperadmin`) applies only if another active superadmin
   * remains, in the same conditional UPDATE. On SQLite a statement runs alone, so that is enough. On PostgreSQL two
   * such UPDATEs (demoting A, demoting B) could each see the other still superadmin in their snapshot: the active
   * superadmins' rows are locked first (in id order), so the second waits for the first to commit and then sees its
   * result. (Any UPDATE re-reads its row's conditions once a concurrent writer of that row has committed.)
   * `journal` writes the change's entry in the same transaction, only when the UPDATE changed the row.
   */
  private async applyUpdate(
    read: User,
    set: Partial<User>,
    keepASuperadmin: boolean,
    journal: (manager: EntityManager) => Promise<void>,
  ): Promise<void> {
    const postgres = this.users.manager.connection.driver.options.type === 'postgres';
    const affected = await runTransaction(this.users.manager.connection, async (manager: EntityManager): Promise<number> => {
      if (postgres && keepASuperadmin) {
        await manager.query(`SELECT "id" FROM "users" WHERE "role" = $1 AND NOT "disabled" ORDER BY "id" FOR UPDATE`, [Role.SuperAdmin]);
      }
      const update = manager
        .createQueryBuilder()
        .update(User)
        .set(set)
        .where('id = :id', { id: read.id })
        .andWhere('role = :readRole', { readRole: read.role })
        .andWhere(read.disabled ? 'disabled' : 'NOT disabled');
      if (keepASuperadmin)
        update.andWhere('EXISTS (SELECT 1 FROM users other WHERE other.role = :superadmin AND NOT other.disabled AND other.id <> :id)', {
          superadmin: Role.SuperAdmin,
        });
      const changed = (await update.execute()).affected ?? 0;
      if (changed) await journal(manager);
      return changed;
    });
    if (affected) return;
    const now = await this.findById(read.id);
    if (!now) throw new NotFoundException(`No user with id ${read.id}`);
    if (now.role !== read.role || now.disabled !== read.disabled)
      throw new ConflictException('This user was changed meanwhile (role or state): read it again and retry');
    throw new ConflictException('This is the last active superadmin: promote another one first');
  }
}

/** The fields a request sent (the DTO's own properties left undefined were not), its password never named. */
function sentFields(dto: UpdateUserDto): string[] {
  return Object.entries(dto)
    .filter(([key, value]) => value !== undefined && key !== 'password')
    .map(([key]) => key);
}
