import { BadRequestException, ConflictException, Injectable, Logger, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { isEmail } from 'class-validator';
import { AuditAction } from '../audit/audit-action.enum.js';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import type { Actor } from '../common/actor.js';
import { PasswordService } from '../users/password.service.js';
import { UsersService } from '../users/users.service.js';
import { TokenResponseDto } from './dto/login.dto.js';
import { LoginAttempt, LoginAttemptsService, SignInThrottled } from './login-attempts.service.js';

export interface JwtPayload {
  sub: string;
  email: string;
  role: string;
  /** The user's token version when signed; a password change or a disable bumps it, revoking the token. */
  ver: number;
  iat?: number;
  exp?: number;
}

/** Same answer, and about the same time, for a wrong password and an unknown email. */
const INVALID_CREDENTIALS = 'Invalid email or password';

/** What login_failure journals in place of an email field that holds no email address. */
export const NOT_AN_EMAIL = '[not an email address]';

/**
 * The email field as login_failure journals it: only an email address, by the rule accounts' emails follow
 * (IsEmailAddress: no top-level domain needed). Anything else may be a password typed in the wrong field, and
 * admins read the journal (GET /api/audit).
 */
function journaledEmail(email: string): string {
  try {
    return isEmail(email, { require_tld: false }) ? email : NOT_AN_EMAIL;
  } catch {
    // validator throws on some malformed strings (a lone surrogate): not an address either.
    return NOT_AN_EMAIL;
  }
}

@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);

  constructor(
    private readonly users: UsersService,
    private readonly passwords: PasswordService,
    private readonly jwt: JwtService,
    private readonly attempts: LoginAttemptsService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  async login(rawEmail: string, password: string, ip: string): Promise<TokenResponseDto> {
    const email = rawEmail.trim().toLowerCase();
    // Counted before the (slow) password check, so concurrent guesses cannot all pass the limit.
    const attempt = await this.begin(email, ip, { scope: 'email', metadata: { email: journaledEmail(email) } });
    const user = await this.users.findForSignIn(email);
    const valid = user ? await this.passwords.verify(user.passwordHash, password) : await this.passwords.verifyAgainstDummy(password);
    if (!user || !valid || user.disabled) {
      const reason = !user ? 'unknown_email' : !valid ? 'wrong_password' : 'disabled';
      await this.audit.record({
        action: AuditAction.LoginFailed,
        // Whoever tried is unknown (the IP says where from): the account aimed at is the target, not the actor.
        actor: null,
        ...(user ? { target: { type: 'user', id: user.id } } : {}),
        metadata: { email: journaledEmail(email), reason },
        ip,
      });
      // Only someone who knows the password learns that the account is disabled.
      throw new UnauthorizedException(reason === 'disabled' ? 'This account is disabled' : INVALID_CREDENTIALS);
    }
    await attempt.succeeded();
    await this.upgradeHash(user.id, user.passwordHash, password);
    await this.audit.record({
      action: AuditAction.LoginSucceeded,
      actor: { id: user.id, email: user.email, role: user.role },
      metadata: { email },
      ip,
    });
    return this.token(user);
  }

  /**
   * The signed-in user's own password, proven by the current one. A wrong current password counts against the
   * sign-in limits for the account (keyed by its id) and the caller's IP (a stolen token does not buy unlimited
   * guesses) and is journaled like a failed sign-in (`wrong_current_password`). The change is conditional on the hash
   * and token version read (UsersService.setOwnPassword: 409 if either changed meanwhile), revokes every token issued
   * so far, the caller's too, is journaled as `user_updated` (`self: true`), and answers a new token.
   */
  async changePassword(actor: Actor, currentPassword: string, newPassword: string, ip: string): Promise<TokenResponseDto> {
    // Counted per account (its id, not its email: someone without a token who fills the email's sign-in count must not
    // keep its holder from changing the password) and per IP, against the sign-in limits.
    const attempt = await this.begin(actor.id, ip, {
      scope: 'account',
      target: { type: 'user', id: actor.id },
      metadata: { email: actor.email, self: true },
    });
    const user = await this.users.findForSignIn(actor.email);
    if (!user || user.id !== actor.id) throw new UnauthorizedException('This account no longer exists');
    if (user.disabled) throw new UnauthorizedException('This account is disabled');
    if (!(await this.passwords.verify(user.passwordHash, currentPassword))) {
      await this.audit.record({
        action: AuditAction.LoginFailed,
        actor: null,
        target: { type: 'user', id: user.id },
        metadata: { email: user.email, reason: 'wrong_current_password' },
        ip,
      });
      // A 400 naming the field, not a 401: the token is fine, and a client reading 401 would sign its user out.
      throw new BadRequestException({
        message: 'currentPassword is not this account’s password',
        details: [{ field: 'currentPassword', problems: ['currentPassword is not this account’s password'] }],
      });
    }
    await attempt.succeeded();
    if (newPassword === currentPassword) {
      throw new BadRequestException({
        message: 'newPassword must differ from currentPassword',
        details: [{ field: 'newPassword', problems: ['newPassword must differ from currentPassword'] }],
      });
    }
    const version = await this.users.setOwnPassword(user, user.passwordHash, newPassword, { ...actor, ip });
    if (version === null) {
      throw new ConflictException(
        'The account changed while its password was being changed (reset, disabled, or changed elsewhere): sign in again',
      );
    }
    return this.token({ ...user, tokenVersion: version });
  }

  /**
   * One attempt counted against the sign-in limits (LoginAttemptsService), or its 429. The refusal that first goes past
   * a limit in its window is journaled (`login_throttled`: which limits, for how long, what was aimed at; no actor, as
   * `login_failure`: whoever is guessing is unknown), once per key and window however many refused guesses follow, so
   * that a lockout shows in the journal without flooding it. A journal that cannot be written does not change the 429.
   */
  private async begin(
    key: string,
    ip: string,
    journal: { scope: 'email' | 'account'; target?: { type: string; id: string }; metadata: Record<string, unknown> },
  ): Promise<LoginAttempt> {
    try {
      return await this.attempts.begin(key, ip, journal.scope);
    } catch (error) {
      if (error instanceof SignInThrottled && error.newlyReached.length) {
        try {
          await this.audit.record({
            action: AuditAction.LoginThrottled,
            actor: null,
            ...(journal.target ? { target: journal.target } : {}),
            metadata: { ...journal.metadata, limits: [...error.newlyReached], retryAfterSeconds: error.retryAfterSeconds },
            ip,
          });
        } catch (journalError) {
          this.logger.warn(
            `A sign-in lockout (${error.newlyReached.join(', ')}) could not be journaled: ${journalError instanceof Error ? journalError.message : String(journalError)}`,
          );
        }
      }
      throw error;
    }
  }

  private async token(user: { id: string; email: string; role: string; tokenVersion: number }): Promise<TokenResponseDto> {
    const payload: JwtPayload = { sub: user.id, email: user.email, role: user.role, ver: user.tokenVersion };
    return {
      access_token: await this.jwt.signAsync(payload),
      token_type: 'Bearer',
      expires_in: this.config.jwt.expiresInSeconds,
    };
  }

  /**
   * A hash cheaper than PASSWORD_HASH_* (the setting was raised since) is made again now that the password is known,
   * so accounts reach the new cost as their users sign in (never downward: PasswordService.needsRehash). A failure
   * only costs the upgrade.
   */
  private async upgradeHash(id: string, stored: string, password: string): Promise<void> {
    if (!this.passwords.needsRehash(stored)) return;
    try {
      await this.users.upgradePasswordHash(id, stored, await this.passwords.hash(password));
    } catch (error) {
      this.logger.warn(`Password hash of user ${id} not upgraded to the configured cost: ${(error as Error).message}`);
    }
  }
}
