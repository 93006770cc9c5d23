import { BadRequestException, ConflictException, ForbiddenException, NotFoundException } from '@nestjs/common';
import { QueryFailedError, type Repository } from 'typeorm';
import type { Mock } from 'vitest';
import { AuditAction } from '../audit/audit-action.enum.js';
import type { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { InvalidPhoneNumberError, PhoneNumberService } from '../phone/phone-number.service.js';
import type { CreateUserDto } from './dto/user.dto.js';
import type { PasswordService } from './password.service.js';
import { Role } from './role.enum.js';
import type { User } from './user.entity.js';
import { UsersService } from './users.service.js';

const NEW_PASSWORD = 'a-brand-new-passphrase';
const NOW = new Date('2024-01-15T10:00:00.789Z');

const superAdmin: Actor = { id: 'super-1', email: 'root@example.com', role: Role.SuperAdmin };
const admin: Actor = { id: 'admin-1', email: 'admin@example.com', role: Role.Admin };

const aUser = (overrides: Partial<User> = {}): User =>
  ({
    id: 'user-1',
    email: 'marie@example.com',
    role: Role.User,
    name: 'Marie',
    phone: null,
    disabled: false,
    tokenVersion: 0,
    createdAt: new Date('2024-01-01T00:00:00Z'),
    updatedAt: new Date('2024-01-01T00:00:00Z'),
    ...overrides,
  }) as User;

const uniqueViolation = (code: string) =>
  new QueryFailedError('INSERT INTO users ...', [], Object.assign(new Error('duplicate'), { code }));

describe(UsersService.name, () => {
  let sut: UsersService;
  let users: {
    create: ReturnType<typeof vi.fn>;
    insert: ReturnType<typeof vi.fn>;
    update: ReturnType<typeof vi.fn>;
    findOneBy: ReturnType<typeof vi.fn>;
    manager: {
      connection: {
        options: { type: string };
        driver: { options: { type: string } };
        transaction: (work: (m: unknown) => unknown) => unknown;
      };
      createQueryBuilder: ReturnType<typeof vi.fn>;
      insert: (entity: unknown, row: unknown) => unknown;
    };
  };
  /** The conditional UPDATE that keeps an active superadmin: what it sets, its conditions, and how many rows it changes. */
  let guarded: {
    set: Mock<(...args: unknown[]) => void>;
    where: Mock<(...args: unknown[]) => void>;
    andWhere: Mock<(...args: unknown[]) => void>;
    affected: number;
  };
  let passwords: { hash: ReturnType<typeof vi.fn> };
  let audit: { record: ReturnType<typeof vi.fn> };

  beforeEach(() => {
    users = {
      create: vi.fn((fields: Partial<User>) => ({ id: 'new-user', ...fields })),
      insert: vi.fn().mockResolvedValue(undefined),
      update: vi.fn().mockResolvedValue(undefined),
      findOneBy: vi.fn().mockResolvedValue(aUser()),
      manager: {
        // runTransaction's PostgreSQL path (TypeORM's own transaction): the work runs with this manager.
        connection: { options: { type: 'postgres' }, driver: { options: { type: 'sqlite' } }, transaction: (work) => work(users.manager) },
        createQueryBuilder: vi.fn(),
        insert: (_entity, row) => (users.insert as (row: unknown) => unknown)(row),
      },
    };
    guarded = { set: vi.fn(), where: vi.fn(), andWhere: vi.fn(), affected: 1 };
    const builder = {
      update: () => builder,
      set: (v: unknown) => (guarded.set(v), builder),
      where: (...a: unknown[]) => (guarded.where(...a), builder),
      andWhere: (...a: unknown[]) => (guarded.andWhere(...a), builder),
      execute: async () => ({ affected: guarded.affected }),
    };
    users.manager.createQueryBuilder.mockReturnValue(builder);
    passwords = { hash: vi.fn(async (password: string) => `hashed(${password})`) };
    audit = { record: vi.fn().mockResolvedValue(undefined) };
    sut = new UsersService(
      users as unknown as Repository<User>,
      passwords as unknown as PasswordService,
      new PhoneNumberService('FR'),
      audit as unknown as AuditService,
    );
  });

  describe('create', () => {
    const dto = (overrides: Partial<CreateUserDto> = {}): CreateUserDto => ({
      email: 'Marie.Martin@Example.COM',
      password: 'correct-horse-battery',
      role: Role.User,
      ...overrides,
    });

    beforeEach(() => {
      // findById after the insert reads back what was inserted.
      users.findOneBy.mockImplementation(async () => ({ ...users.insert.mock.calls[0][0], createdAt: NOW, updatedAt: NOW }));
    });

    it.each([Role.Admin, Role.SuperAdmin])('should forbid an admin to create a %s, journaling the attempt', async (role) => {
      await expect(sut.create(dto({ role }), admin)).rejects.toBeInstanceOf(ForbiddenException);

      expect(passwords.hash).not.toHaveBeenCalled();
      expect(users.insert).not.toHaveBeenCalled();
      expect(audit.record).toHaveBeenCalledWith({
        action: AuditAction.UserChangeRefused,
        actor: admin,
        target: { type: 'user', id: null },
        metadata: { attempted: 'create', email: 'marie.martin@example.com', role, reason: expect.stringMatching(/Only a superadmin/) },
      });
      expect(JSON.stringify(audit.record.mock.calls)).not.toContain('correct-horse-battery');
    });

    it('should let an admin create a user', async () => {
      await sut.create(dto({ role: Role.User }), admin);

      expect(users.insert).toHaveBeenCalledTimes(1);
    });

    it.each([Role.Admin, Role.SuperAdmin])('should let a superadmin create a %s', async (role) => {
      await sut.create(dto({ role }), superAdmin);

      expect(users.insert).toHaveBeenCalledWith(expect.objectContaining({ role }));
    });

    it('should let the system (no actor) create a superadmin', async () => {
      await sut.create(dto({ role: Role.SuperAdmin }), null);

      expect(users.insert).toHaveBeenCalledWith(expect.objectContaining({ role: Role.SuperAdmin }));
    });

    it('should store the email lower-cased and the password hashed, enabled', async () => {
      await sut.create(dto(), superAdmin);

      expect(passwords.hash).toHaveBeenCalledWith('correct-horse-battery');
      expect(users.insert).toHaveBeenCalledWith(
        expect.objectContaining({ email: 'marie.martin@example.com', passwordHash: 'hashed(correct-horse-battery)', disabled: false }),
      );
      expect(JSON.stringify(users.insert.mock.calls)).not.toContain('"correct-horse-battery"');
    });

    it('should store the phone in E.164', async () => {
      await sut.create(dto({ phone: '06 12 34 56 78' }), superAdmin);

      expect(users.insert).toHaveBeenCalledWith(expect.objectContaining({ phone: '+33612345678' }));
    });

    it('should store no phone and no name when none is given', async () => {
      await sut.create(dto({ name: '' }), superAdmin);

      expect(users.insert).toHaveBeenCalledWith(expect.objectContaining({ phone: null, name: null }));
    });

    it('should refuse an invalid phone with a 400 naming the field, without inserting', async () => {
      const error = await sut.create(dto({ phone: '12345' }), superAdmin).catch((e: unknown) => e);

      // An InputError: the app-wide filter answers it with 400 naming the field.
      expect(error).toBeInstanceOf(InvalidPhoneNumberError);
      expect((error as InvalidPhoneNumberError).toHttp()).toMatchObject({ status: 400, body: { details: [{ field: 'phone' }] } });
      expect(users.insert).not.toHaveBeenCalled();
    });

    it.each(['23505', 'SQLITE_CONSTRAINT_UNIQUE'])('should answer 409 for a duplicate email (driver code %s)', async (code) => {
      users.insert.mockRejectedValue(uniqueViolation(code));

      const error = await sut.create(dto(), superAdmin).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ConflictException);
      expect((error as ConflictException).message).toContain('marie.martin@example.com');
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('should pass any other database error through untouched', async () => {
      const other = new QueryFailedError('INSERT', [], Object.assign(new Error('not null'), { code: '23502' }));
      users.insert.mockRejectedValue(other);

      await expect(sut.create(dto(), superAdmin)).rejects.toBe(other);
    });

    it('should journal user_created with the email and role, never the password', async () => {
      const view = await sut.create(dto({ role: Role.Admin }), superAdmin);

      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith(
        {
          action: AuditAction.UserCreated,
          actor: superAdmin,
          target: { type: 'user', id: 'new-user' },
          metadata: { email: 'marie.martin@example.com', role: Role.Admin },
        },
        // In the insert's transaction (its manager): no user without its entry.
        users.manager,
      );
      expect(JSON.stringify(audit.record.mock.calls)).not.toMatch(/correct-horse-battery/);
      expect(view).not.toHaveProperty('passwordHash');
    });
  });

  describe('update', () => {
    it('should answer 404 for an unknown user', async () => {
      users.findOneBy.mockResolvedValue(null);

      await expect(sut.update('nobody', { name: 'X' }, superAdmin)).rejects.toBeInstanceOf(NotFoundException);
      expect(users.update).not.toHaveBeenCalled();
    });

    it.each([Role.Admin, Role.SuperAdmin])('should forbid an admin to modify another %s', async (role) => {
      users.findOneBy.mockResolvedValue(aUser({ id: 'other', role }));

      await expect(sut.update('other', { name: 'X' }, admin)).rejects.toBeInstanceOf(ForbiddenException);
      expect(guarded.set).not.toHaveBeenCalled();
      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith(
        expect.objectContaining({ action: AuditAction.UserChangeRefused, target: { type: 'user', id: 'other' } }),
      );
    });

    it('should journal only the fields sent, not those the request left undefined (a DTO with every property declared)', async () => {
      users.findOneBy.mockResolvedValue(aUser({ id: 'other', role: Role.SuperAdmin }));
      const dto = { role: undefined, password: undefined, name: undefined, phone: undefined, disabled: true };

      await expect(sut.update('other', dto, admin)).rejects.toBeInstanceOf(ForbiddenException);
      expect(audit.record).toHaveBeenCalledWith(expect.objectContaining({ metadata: expect.objectContaining({ fields: ['disabled'] }) }));
    });

    it('should let an admin modify a user', async () => {
      await sut.update('user-1', { name: 'Marie M.' }, admin);

      expect(guarded.set).toHaveBeenCalledWith({ name: 'Marie M.' });
    });

    it("should write a change only if the role and state it was judged on are still the row's", async () => {
      await sut.update('user-1', { name: 'Marie M.' }, admin);

      expect(guarded.where).toHaveBeenCalledWith('id = :id', { id: 'user-1' });
      expect(guarded.andWhere).toHaveBeenCalledWith('role = :readRole', { readRole: Role.User });
      expect(guarded.andWhere).toHaveBeenCalledWith('NOT disabled');
    });

    it('should answer 409 "changed meanwhile" when the role or state changed before the write, journaling nothing', async () => {
      guarded.affected = 0;
      users.findOneBy.mockResolvedValueOnce(aUser()).mockResolvedValueOnce(aUser({ role: Role.Admin }));

      const error = await sut.update('user-1', { password: NEW_PASSWORD }, admin).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ConflictException);
      expect((error as ConflictException).message).toMatch(/changed meanwhile/);
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('should let an admin modify their own account', async () => {
      users.findOneBy.mockResolvedValue(aUser({ id: admin.id, role: Role.Admin }));

      await sut.update(admin.id, { name: 'Me' }, admin);

      expect(guarded.set).toHaveBeenCalledWith({ name: 'Me' });
    });

    it('should let a superadmin modify an admin', async () => {
      users.findOneBy.mockResolvedValue(aUser({ id: 'other', role: Role.Admin }));

      await sut.update('other', { name: 'X' }, superAdmin);

      expect(guarded.set).toHaveBeenCalledTimes(1);
    });

    it('should forbid an admin to change a role', async () => {
      await expect(sut.update('user-1', { role: Role.Admin }, admin)).rejects.toBeInstanceOf(ForbiddenException);
      expect(guarded.set).not.toHaveBeenCalled();
      expect(audit.record).toHaveBeenCalledWith(
        expect.objectContaining({
          action: AuditAction.UserChangeRefused,
          metadata: expect.objectContaining({ requestedRole: Role.Admin }),
        }),
      );
    });

    it('should hash a new password and revoke earlier tokens by bumping the token version', async () => {
      await sut.update('user-1', { password: NEW_PASSWORD }, superAdmin);

      expect(passwords.hash).toHaveBeenCalledWith(NEW_PASSWORD);
      const [changes] = guarded.set.mock.calls[0] as [Record<string, () => string>];
      expect(guarded.where).toHaveBeenCalledWith('id = :id', { id: 'user-1' });
      expect(changes).toEqual({ passwordHash: `hashed(${NEW_PASSWORD})`, tokenVersion: expect.any(Function) });
      expect(changes.tokenVersion()).toBe('token_version + 1');
    });

    it('should revoke earlier tokens by bumping the token version when disabling a user', async () => {
      await sut.update('user-1', { disabled: true }, superAdmin);

      const [changes] = guarded.set.mock.calls[0] as [Record<string, () => string>];
      expect(changes).toEqual({ disabled: true, tokenVersion: expect.any(Function) });
      expect(changes.tokenVersion()).toBe('token_version + 1');
    });

    it('should not bump the token version when enabling a user or changing a name or role', async () => {
      users.findOneBy.mockResolvedValue(aUser({ disabled: true }));

      await sut.update('user-1', { disabled: false, name: 'M', role: Role.Admin }, superAdmin);

      expect(guarded.set).toHaveBeenCalledWith({ disabled: false, name: 'M', role: Role.Admin });
    });

    it('should refuse to let an actor disable their own account', async () => {
      users.findOneBy.mockResolvedValue(aUser({ id: superAdmin.id, role: Role.SuperAdmin }));

      await expect(sut.update(superAdmin.id, { disabled: true }, superAdmin)).rejects.toBeInstanceOf(BadRequestException);
      expect(guarded.set).not.toHaveBeenCalled();
    });

    it.each([
      ['an admin', admin],
      ['a superadmin', superAdmin],
    ])("should refuse %s's own password with a 400 naming password and the own-password route, changing nothing", async (_, actor) => {
      users.findOneBy.mockResolvedValue(aUser({ id: actor.id, role: actor.role }));

      const error = await sut.update(actor.id, { name: 'Me', password: NEW_PASSWORD }, actor).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(BadRequestException);
      expect((error as BadRequestException).getResponse()).toMatchObject({
        message: expect.stringContaining('POST /api/auth/me/password'),
        details: [{ field: 'password', problems: [expect.stringContaining('POST /api/auth/me/password')] }],
      });
      expect(passwords.hash).not.toHaveBeenCalled();
      expect(guarded.set).not.toHaveBeenCalled();
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('should store a new phone in E.164', async () => {
      await sut.update('user-1', { phone: '06 12 34 56 78' }, admin);

      expect(guarded.set).toHaveBeenCalledWith({ phone: '+33612345678' });
    });

    it('should refuse an invalid phone with a 400, without updating', async () => {
      await expect(sut.update('user-1', { phone: 'not a phone' }, admin)).rejects.toBeInstanceOf(InvalidPhoneNumberError);
      expect(guarded.set).not.toHaveBeenCalled();
    });

    it('should demote a superadmin only if another active superadmin remains, in one conditional UPDATE', async () => {
      users.findOneBy.mockResolvedValue(aUser({ id: 'other-super', role: Role.SuperAdmin }));

      await sut.update('other-super', { role: Role.Admin }, superAdmin);

      expect(guarded.set).toHaveBeenCalledWith({ role: Role.Admin });
      expect(guarded.where).toHaveBeenCalledWith('id = :id', { id: 'other-super' });
      expect(guarded.andWhere).toHaveBeenCalledWith(
        expect.stringMatching(/^EXISTS \(SELECT 1 FROM users other WHERE .*other\.id <> :id\)$/),
        {
          superadmin: Role.SuperAdmin,
        },
      );
      expect(audit.record).toHaveBeenCalledTimes(1);
    });

    it('should refuse to demote the last active superadmin with 409, journaling nothing', async () => {
      users.findOneBy.mockResolvedValue(aUser({ id: 'other-super', role: Role.SuperAdmin }));
      guarded.affected = 0;

      const error = await sut.update('other-super', { role: Role.Admin }, superAdmin).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictException);
      expect((error as ConflictException).message).toMatch(/last active superadmin/);
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('should refuse to disable the last active superadmin', async () => {
      users.findOneBy.mockResolvedValue(aUser({ id: 'other-super', role: Role.SuperAdmin }));
      guarded.affected = 0;

      await expect(sut.update('other-super', { disabled: true }, superAdmin)).rejects.toBeInstanceOf(ConflictException);
      expect(guarded.set).toHaveBeenCalledWith({ disabled: true, tokenVersion: expect.any(Function) });
    });

    it('should not guard a change that keeps the superadmin active', async () => {
      users.findOneBy.mockResolvedValue(aUser({ id: 'other-super', role: Role.SuperAdmin }));

      await sut.update('other-super', { name: 'Root' }, superAdmin);

      expect(guarded.set).toHaveBeenCalledTimes(1);
      expect(guarded.andWhere).not.toHaveBeenCalledWith(expect.stringMatching(/^EXISTS/), expect.anything());
    });

    it('should not guard demoting a disabled superadmin', async () => {
      users.findOneBy.mockResolvedValue(aUser({ id: 'old-super', role: Role.SuperAdmin, disabled: true }));

      await sut.update('old-super', { role: Role.Admin }, superAdmin);

      expect(guarded.set).toHaveBeenCalledWith(expect.objectContaining({ role: Role.Admin }));
      expect(guarded.andWhere).toHaveBeenCalledWith('disabled');
      expect(guarded.andWhere).not.toHaveBeenCalledWith(expect.stringMatching(/^EXISTS/), expect.anything());
    });

    it('should journal user_updated with the changed fields, never the password', async () => {
      await sut.update('user-1', { name: 'Marie M.', password: NEW_PASSWORD }, superAdmin);

      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith(
        {
          action: AuditAction.UserUpdated,
          actor: superAdmin,
          target: { type: 'user', id: 'user-1' },
          metadata: { email: 'marie@example.com', changed: ['name', 'password'], role: Role.User, disabled: false },
        },
        // In the UPDATE's transaction: no change without its entry.
        users.manager,
      );
      const journaled = JSON.stringify(audit.record.mock.calls);
      expect(journaled).not.toContain(NEW_PASSWORD);
      expect(journaled).not.toContain('passwordHash');
    });

    it('should journal the new role and state, and what they were before', async () => {
      await sut.update('user-1', { role: Role.Admin, disabled: true }, superAdmin);

      expect(audit.record).toHaveBeenCalledWith(
        expect.objectContaining({
          metadata: {
            email: 'marie@example.com',
            changed: ['role', 'disabled'],
            role: Role.Admin,
            disabled: true,
            previousRole: Role.User,
            previousDisabled: false,
          },
        }),
        users.manager,
      );
    });

    it('should neither write nor journal when nothing changes', async () => {
      await sut.update('user-1', { role: Role.User, disabled: false, name: 'Marie' }, superAdmin);

      expect(guarded.set).not.toHaveBeenCalled();
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('should answer the user as read back after the update, without the password hash', async () => {
      users.findOneBy.mockResolvedValueOnce(aUser()).mockResolvedValueOnce(aUser({ name: 'Marie M.', passwordHash: 'secret' }));

      const view = await sut.update('user-1', { name: 'Marie M.' }, superAdmin);

      expect(view).toMatchObject({ id: 'user-1', name: 'Marie M.' });
      expect(view).not.toHaveProperty('passwordHash');
    });
  });
});
