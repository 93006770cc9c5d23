import { HttpException, HttpStatus, Logger, UnauthorizedException } from '@nestjs/common';
import type { JwtService } from '@nestjs/jwt';
import { AuditAction } from '../audit/audit-action.enum.js';
import type { AuditService } from '../audit/audit.service.js';
import type { AppConfig } from '../config/app-config.js';
import type { PasswordService } from '../users/password.service.js';
import { Role } from '../users/role.enum.js';
import type { User } from '../users/user.entity.js';
import type { UsersService } from '../users/users.service.js';
import { AuthService, NOT_AN_EMAIL } from './auth.service.js';
import { SignInThrottled, type LoginAttemptsService } from './login-attempts.service.js';

const PASSWORD = 'correct-horse-battery';
const IP = '203.0.113.7';

const aUser = (overrides: Partial<User> = {}): User =>
  ({
    id: 'user-1',
    email: 'marie@example.com',
    passwordHash: '$argon2id$stored',
    role: Role.Admin,
    name: 'Marie',
    phone: null,
    disabled: false,
    tokenVersion: 4,
    ...overrides,
  }) as User;

describe(AuthService.name, () => {
  let sut: AuthService;
  let users: { findForSignIn: ReturnType<typeof vi.fn>; upgradePasswordHash: ReturnType<typeof vi.fn> };
  let passwords: {
    verify: ReturnType<typeof vi.fn>;
    verifyAgainstDummy: ReturnType<typeof vi.fn>;
    needsRehash: ReturnType<typeof vi.fn>;
    hash: ReturnType<typeof vi.fn>;
  };
  let jwt: { signAsync: ReturnType<typeof vi.fn> };
  let attempts: { begin: ReturnType<typeof vi.fn> };
  let attempt: { succeeded: ReturnType<typeof vi.fn> };
  let audit: { record: ReturnType<typeof vi.fn> };

  /** The rejection of a login, for inspection. */
  const failedLogin = (email: string, password: string) => sut.login(email, password, IP).catch((e: unknown) => e);

  beforeEach(() => {
    users = { findForSignIn: vi.fn().mockResolvedValue(aUser()), upgradePasswordHash: vi.fn().mockResolvedValue(true) };
    passwords = {
      verify: vi.fn(async (_hash: string, password: string) => password === PASSWORD),
      verifyAgainstDummy: vi.fn().mockResolvedValue(false),
      needsRehash: vi.fn().mockReturnValue(false),
      hash: vi.fn().mockResolvedValue('$argon2id$rehashed'),
    };
    jwt = { signAsync: vi.fn().mockResolvedValue('signed.jwt.token') };
    attempt = { succeeded: vi.fn().mockResolvedValue(undefined) };
    attempts = { begin: vi.fn().mockResolvedValue(attempt) };
    audit = { record: vi.fn().mockResolvedValue(undefined) };
    sut = new AuthService(
      users as unknown as UsersService,
      passwords as unknown as PasswordService,
      jwt as unknown as JwtService,
      attempts as unknown as LoginAttemptsService,
      audit as unknown as AuditService,
      { jwt: { expiresInSeconds: 3600 } } as unknown as AppConfig,
    );
  });

  describe('login', () => {
    it('should store the password again at the configured cost when its hash was made at another', async () => {
      passwords.needsRehash.mockReturnValue(true);

      await sut.login('marie@example.com', PASSWORD, IP);

      expect(passwords.needsRehash).toHaveBeenCalledWith('$argon2id$stored');
      expect(passwords.hash).toHaveBeenCalledWith(PASSWORD);
      expect(users.upgradePasswordHash).toHaveBeenCalledWith('user-1', '$argon2id$stored', '$argon2id$rehashed');
    });

    it('should leave a hash at the configured cost alone, and never rehash on a failed sign-in', async () => {
      await sut.login('marie@example.com', PASSWORD, IP);
      passwords.needsRehash.mockReturnValue(true);
      await failedLogin('marie@example.com', 'wrong-password');

      expect(passwords.hash).not.toHaveBeenCalled();
      expect(users.upgradePasswordHash).not.toHaveBeenCalled();
    });

    it('should still sign in when storing the upgraded hash fails', async () => {
      passwords.needsRehash.mockReturnValue(true);
      users.upgradePasswordHash.mockRejectedValue(new Error('database is locked'));
      vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);

      await expect(sut.login('marie@example.com', PASSWORD, IP)).resolves.toMatchObject({ access_token: 'signed.jwt.token' });
    });

    it('should look the user up by the trimmed, lower-cased email', async () => {
      await sut.login('  Marie@Example.COM ', PASSWORD, IP);

      expect(attempts.begin).toHaveBeenCalledWith('marie@example.com', IP, 'email');
      expect(users.findForSignIn).toHaveBeenCalledWith('marie@example.com');
    });

    it('should journal a lockout once, as login_throttled, with the address typed only when it is one', async () => {
      const first = new SignInThrottled('Too many failed sign-in attempts; try again in 900 seconds', 900, ['account']);
      const next = new SignInThrottled('Too many failed sign-in attempts; try again in 899 seconds', 899, []);
      attempts.begin.mockRejectedValueOnce(first).mockRejectedValueOnce(next);

      await expect(sut.login('pass-word-in-the-wrong-field', PASSWORD, IP)).rejects.toBe(first);
      await expect(sut.login('pass-word-in-the-wrong-field', PASSWORD, IP)).rejects.toBe(next);

      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith({
        action: AuditAction.LoginThrottled,
        actor: null,
        metadata: { email: NOT_AN_EMAIL, limits: ['account'], retryAfterSeconds: 900 },
        ip: IP,
      });
    });

    it('should still answer 429 when the lockout cannot be journaled', async () => {
      const first = new SignInThrottled('Too many failed sign-in attempts; try again in 900 seconds', 900, ['ip']);
      attempts.begin.mockRejectedValue(first);
      audit.record.mockRejectedValue(new Error('database is locked'));
      vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);

      await expect(sut.login('marie@example.com', PASSWORD, IP)).rejects.toBe(first);
    });

    it('should refuse before looking anything up when the attempts are blocked', async () => {
      const blocked = new HttpException('Too many failed sign-in attempts', HttpStatus.TOO_MANY_REQUESTS);
      attempts.begin.mockRejectedValue(blocked);

      await expect(sut.login('marie@example.com', PASSWORD, IP)).rejects.toBe(blocked);

      expect(users.findForSignIn).not.toHaveBeenCalled();
      expect(passwords.verify).not.toHaveBeenCalled();
      expect(jwt.signAsync).not.toHaveBeenCalled();
    });

    it('should spend a dummy verification on an unknown email', async () => {
      users.findForSignIn.mockResolvedValue(null);

      await failedLogin('ghost@example.com', PASSWORD);

      expect(passwords.verifyAgainstDummy).toHaveBeenCalledTimes(1);
      expect(passwords.verifyAgainstDummy).toHaveBeenCalledWith(PASSWORD);
      expect(passwords.verify).not.toHaveBeenCalled();
    });

    it('should not spend a dummy verification on a known email', async () => {
      await failedLogin('marie@example.com', 'wrong-password');

      expect(passwords.verify).toHaveBeenCalledWith('$argon2id$stored', 'wrong-password');
      expect(passwords.verifyAgainstDummy).not.toHaveBeenCalled();
    });

    it('should answer an unknown email and a wrong password with the same 401', async () => {
      const wrongPassword = await failedLogin('marie@example.com', 'wrong-password');
      users.findForSignIn.mockResolvedValue(null);
      const unknownEmail = await failedLogin('ghost@example.com', PASSWORD);

      expect(wrongPassword).toBeInstanceOf(UnauthorizedException);
      expect(unknownEmail).toBeInstanceOf(UnauthorizedException);
      expect((unknownEmail as UnauthorizedException).message).toBe('Invalid email or password');
      expect((wrongPassword as UnauthorizedException).message).toBe((unknownEmail as UnauthorizedException).message);
    });

    it('should count the attempt before checking the password, and leave it counted on a wrong password', async () => {
      await failedLogin('Marie@example.com', 'wrong-password');

      expect(attempts.begin).toHaveBeenCalledTimes(1);
      expect(attempts.begin).toHaveBeenCalledWith('marie@example.com', IP, 'email');
      expect(attempts.begin.mock.invocationCallOrder[0]).toBeLessThan(passwords.verify.mock.invocationCallOrder[0]);
      expect(attempt.succeeded).not.toHaveBeenCalled();
      expect(jwt.signAsync).not.toHaveBeenCalled();
    });

    it('should leave the attempt counted for an unknown email', async () => {
      users.findForSignIn.mockResolvedValue(null);

      await failedLogin('ghost@example.com', PASSWORD);

      expect(attempts.begin).toHaveBeenCalledWith('ghost@example.com', IP, 'email');
      expect(attempt.succeeded).not.toHaveBeenCalled();
    });

    it('should journal login_failure with reason wrong_password, no actor, the user as target and never the password', async () => {
      await failedLogin('marie@example.com', 'wrong-password');

      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith({
        action: AuditAction.LoginFailed,
        actor: null,
        target: { type: 'user', id: 'user-1' },
        metadata: { email: 'marie@example.com', reason: 'wrong_password' },
        ip: IP,
      });
      expect(JSON.stringify(audit.record.mock.calls)).not.toContain('wrong-password');
    });

    it('should journal login_failure with reason unknown_email, no actor nor target, and never the password', async () => {
      users.findForSignIn.mockResolvedValue(null);

      await failedLogin('ghost@example.com', PASSWORD);

      expect(audit.record).toHaveBeenCalledWith({
        action: AuditAction.LoginFailed,
        actor: null,
        metadata: { email: 'ghost@example.com', reason: 'unknown_email' },
        ip: IP,
      });
      expect(JSON.stringify(audit.record.mock.calls)).not.toContain(PASSWORD);
    });

    it('should journal a marker instead of an email field that holds no email address (a password typed in the wrong field)', async () => {
      users.findForSignIn.mockResolvedValue(null);

      await failedLogin('  Correct-Horse-Battery ', 'correct-horse-battery');

      expect(audit.record).toHaveBeenCalledWith({
        action: AuditAction.LoginFailed,
        actor: null,
        metadata: { email: '[not an email address]', reason: 'unknown_email' },
        ip: IP,
      });
      expect(JSON.stringify(audit.record.mock.calls).toLowerCase()).not.toContain('horse');
    });

    it('should journal an email without a top-level domain as it is (the first admin is admin@localhost)', async () => {
      users.findForSignIn.mockResolvedValue(null);

      await failedLogin('Ops@Localhost', PASSWORD);

      expect(audit.record).toHaveBeenCalledWith(expect.objectContaining({ metadata: { email: 'ops@localhost', reason: 'unknown_email' } }));
    });

    it('should tell a disabled user who knows the password that the account is disabled', async () => {
      users.findForSignIn.mockResolvedValue(aUser({ disabled: true }));

      const error = await failedLogin('marie@example.com', PASSWORD);

      expect(error).toBeInstanceOf(UnauthorizedException);
      expect((error as UnauthorizedException).message).toBe('This account is disabled');
      expect(audit.record).toHaveBeenCalledWith(
        expect.objectContaining({ action: AuditAction.LoginFailed, metadata: { email: 'marie@example.com', reason: 'disabled' } }),
      );
      expect(attempt.succeeded).not.toHaveBeenCalled();
      expect(jwt.signAsync).not.toHaveBeenCalled();
    });

    it('should not reveal that an account is disabled to a wrong password', async () => {
      users.findForSignIn.mockResolvedValue(aUser({ disabled: true }));

      const error = await failedLogin('marie@example.com', 'wrong-password');

      expect((error as UnauthorizedException).message).toBe('Invalid email or password');
    });

    it("should clear the email's failures and journal login_success on success", async () => {
      await sut.login('Marie@Example.com', PASSWORD, IP);

      expect(attempts.begin).toHaveBeenCalledWith('marie@example.com', IP, 'email');
      expect(attempt.succeeded).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith({
        action: AuditAction.LoginSucceeded,
        actor: { id: 'user-1', email: 'marie@example.com', role: Role.Admin },
        metadata: { email: 'marie@example.com' },
        ip: IP,
      });
      expect(JSON.stringify(audit.record.mock.calls)).not.toContain(PASSWORD);
    });

    it('should sign {sub, email, role, ver} with the user token version and answer a Bearer token with its lifetime', async () => {
      const token = await sut.login('marie@example.com', PASSWORD, IP);

      expect(jwt.signAsync).toHaveBeenCalledTimes(1);
      expect(jwt.signAsync).toHaveBeenCalledWith({ sub: 'user-1', email: 'marie@example.com', role: Role.Admin, ver: 4 });
      expect(token).toEqual({ access_token: 'signed.jwt.token', token_type: 'Bearer', expires_in: 3600 });
    });
  });
});
