import { HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { createHmac } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AppConfig } from '../config/app-config.js';
import { createRateLimiter, retryAfterSeconds } from '../redis/rate-limiter.js';
import { REDIS } from '../redis/redis.module.js';

/**
 * The sign-in limits: failures on an account (its email at sign-in, its id on the own-password route) from one address,
 * failures on it from all addresses together, failures per IP, and requests per IP per minute.
 */
export type SignInLimit = 'account' | 'account_all' | 'ip' | 'ip_volume';

/**
 * The 429 of a refused attempt. `newlyReached`: the limits this refusal is the first to meet for its key in the limit's
 * current window, so that the journal notes a lockout once, not every refused guess (once per instance while Redis is
 * unreachable: the note then lives in each instance's memory).
 */
export class SignInThrottled extends HttpException {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    readonly newlyReached: readonly SignInLimit[],
  ) {
    super({ message, headers: { 'Retry-After': String(retryAfterSeconds) } }, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** An attempt let through: settle it with `succeeded()` or leave it counted as a failure. */
export interface LoginAttempt {
  /** The password was right: the attempt stops counting, and the email's failures from this address are forgotten. */
  succeeded(): Promise<void>;
}

/**
 * Limits failed sign-ins in a fixed window that starts with the first attempt, past any limit 429 with Retry-After until
 * that window ends:
 * - per account from one address (LOGIN_MAX_ATTEMPTS, 5): one client guessing one account is stopped there, and only
 *   there: failures from one address never lock the account's owner out from another (anyone who knew the email could
 *   otherwise keep any account, the superadmin's included, out for good with 5 requests every 15 minutes);
 * - per account from all addresses together (LOGIN_MAX_ATTEMPTS_PER_ACCOUNT, 50): guesses spread over many addresses
 *   are bounded too; reaching it takes that many failures, and a success does not clear it (only its own point); it
 *   does not apply from an address the account signed in from within KNOWN_ADDRESS_DAYS;
 * - per IP across accounts (LOGIN_MAX_ATTEMPTS_PER_IP).
 * Besides, every sign-in request counts per IP per minute (LOGIN_MAX_PER_IP_PER_MINUTE, successful or not): a
 * backstop on raw volume.
 *
 * Each attempt takes its points before the password is checked, atomically (an increment in memory, a
 * Lua script in Redis): thirty concurrent guesses cannot all pass a check made before any of them is
 * recorded. A successful sign-in gives its failure points back, so only failures count there, and clears
 * the email's count from its address. The own-password route (scope `account`) counts per account from any address:
 * its caller holds a token of the account, and guesses of the current password there must stay few. With `REDIS_URL`
 * the counts live in Redis and every instance shares them; without it, each instance counts its own. If Redis stops
 * answering, each instance counts in memory meanwhile.
 */
@Injectable()
export class LoginAttemptsService {
  private readonly perEmailHere: RateLimiterAbstract;
  private readonly perEmail: RateLimiterAbstract;
  private readonly perIp: RateLimiterAbstract;
  private readonly volumePerIp: RateLimiterAbstract | null;
  /** One point per limit and key for a window's length: taken by the first refusal, which is the one journaled. */
  private readonly lockoutNoted: RateLimiterAbstract;
  /** Addresses an account signed in from (email and IP, one point for KNOWN_ADDRESS_DAYS): exempt from `account_all`. */
  private readonly knownAddresses: RateLimiterAbstract;
  private readonly volumeNoted: RateLimiterAbstract;
  /** Keys the email digests (see emailCountKey): derived from JWT_SECRET, so every instance computes the same. */
  private readonly emailKeySecret: Buffer;
  /**
   * Keys the account-id digests of the own-password route: another key than the emails', so that no text typed in the
   * sign-in form's email field (`user:<id>`, the bare id) falls on an account's count.
   */
  private readonly accountKeySecret: Buffer;

  constructor(config: AppConfig, @Inject(REDIS) redis: Redis | null) {
    this.emailKeySecret = createHmac('sha256', config.jwt.secret).update('login-email-count-key').digest();
    this.accountKeySecret = createHmac('sha256', config.jwt.secret).update('login-account-count-key').digest();
    const { maxAttemptsPerEmail, maxAttemptsPerAccount, maxAttemptsPerIp, windowSeconds, maxPerIpPerMinute } = config.login;
    const limiter = (name: string, points: number, durationSeconds = windowSeconds): RateLimiterAbstract =>
      createRateLimiter(redis, { keyPrefix: `${config.redisKeyPrefix}login-${name}`, points, durationSeconds });
    this.perEmailHere = limiter('email-ip', maxAttemptsPerEmail);
    this.perEmail = limiter('email', maxAttemptsPerAccount);
    this.perIp = limiter('ip', maxAttemptsPerIp);
    this.volumePerIp = maxPerIpPerMinute > 0 ? limiter('ip-volume', maxPerIpPerMinute, 60) : null;
    this.lockoutNoted = limiter('lockout-noted', 1);
    this.volumeNoted = limiter('volume-noted', 1, 60);
    this.knownAddresses = limiter('known', 1, KNOWN_ADDRESS_DAYS * 86_400);
  }

  /**
   * Counts one attempt for the email (or, `scope: 'account'`, the account id of the own-password route) from this IP,
   * for it from anywhere, and for the IP, or throws 429 (with the longest Retry-After) when any limit is already
   * reached; a refused attempt counts against none.
   */
  async begin(email: string, address: string, scope: 'email' | 'account' = 'email'): Promise<LoginAttempt> {
    const emailKey = emailCountKey(email, scope === 'account' ? this.accountKeySecret : this.emailKeySecret);
    const ip = ipCountKey(address);
    const emailHereKey = `${emailKey}:${ip}`;
    // The own-password route's caller holds a token of the account: its guesses of the current password count per
    // account whatever the address (a stolen token used from many addresses gains nothing). A thief can so keep the
    // owner from changing it there for a window; an admin's reset or disable (PATCH /api/users/:id) revokes every token.
    const accountHereKey = scope === 'account' ? emailKey : emailHereKey;
    // From an address the account signed in from lately, the account-wide limit does not apply: guesses spread over
    // many addresses cannot keep its owner out from where they sign in.
    const known = scope === 'email' && (await this.isKnown(emailHereKey));
    const limits: Array<[RateLimiterAbstract, string, SignInLimit]> = [
      [this.perEmailHere, accountHereKey, 'account'],
      ...(known ? [] : [[this.perEmail, emailKey, 'account_all'] as [RateLimiterAbstract, string, SignInLimit]]),
      [this.perIp, ip, 'ip'],
      ...(this.volumePerIp ? [[this.volumePerIp, ip, 'ip_volume'] as [RateLimiterAbstract, string, SignInLimit]] : []),
    ];
    const results = await Promise.allSettled(limits.map(([limiter, key]) => limiter.consume(key)));
    const refused = results.flatMap((r, i) =>
      r.status === 'rejected' ? [{ reason: r.reason as unknown, limiter: limits[i][0], key: limits[i][1], name: limits[i][2] }] : [],
    );
    if (refused.length) {
      // An error of the store itself (not a refusal) is not the caller's fault: let it be a 500.
      const storeError = refused.find(({ reason }) => !(reason instanceof RateLimiterRes));
      await Promise.all(results.map((r, i) => (r.status === 'fulfilled' ? limits[i][0].reward(limits[i][1]) : undefined)));
      if (storeError) throw storeError.reason;
      const retryAfter = Math.max(...refused.map(({ reason }) => retryAfterSeconds(reason as RateLimiterRes)));
      const volumeOnly = refused.every(({ limiter }) => limiter === this.volumePerIp);
      // Whether this refusal is the first for its limit and key: the one point of the "noted" limiter (atomic, in memory
      // or in Redis), not the count going one past the limit, which the points given back to concurrent attempts can
      // make happen twice.
      // The note lasts as long as the refused limit's window still does, so the next window's first refusal is noted.
      const newlyReached: SignInLimit[] = [];
      for (const { name, key, reason } of refused) {
        const noted = name === 'ip_volume' ? this.volumeNoted : this.lockoutNoted;
        try {
          await noted.consume(`${name}:${key}`, 1, { customDuration: retryAfterSeconds(reason as RateLimiterRes) });
          newlyReached.push(name);
        } catch (error) {
          // The store failed (not a refusal): noted, so the lockout is journaled rather than never; the answer stays 429.
          if (!(error instanceof RateLimiterRes)) newlyReached.push(name);
        }
      }
      throw new SignInThrottled(
        volumeOnly
          ? `Too many sign-in requests from this address; try again in ${retryAfter} seconds`
          : `Too many failed sign-in attempts; try again in ${retryAfter} seconds`,
        retryAfter,
        newlyReached,
      );
    }
    return {
      succeeded: async () => {
        await Promise.all([
          this.perEmailHere.delete(accountHereKey),
          known ? undefined : this.perEmail.reward(emailKey),
          this.perIp.reward(ip),
          scope === 'email' ? this.knownAddresses.set(emailHereKey, 1, KNOWN_ADDRESS_DAYS * 86_400) : undefined,
        ]);
      },
    };
  }

  /** Whether this email signed in from this address within KNOWN_ADDRESS_DAYS; a store that fails says no. */
  private async isKnown(emailHereKey: string): Promise<boolean> {
    try {
      return ((await this.knownAddresses.get(emailHereKey))?.consumedPoints ?? 0) > 0;
    } catch {
      return false;
    }
  }
}

/**
 * How long a successful sign-in makes its address known for its account (exempt from the account-wide limit). Under
 * 24.8 days: the in-memory store (no Redis) expires a key with a timer, which Node cannot set longer.
 */
export const KNOWN_ADDRESS_DAYS = 14;

/**
 * The key an email's failures are counted under: a keyed digest (HMAC-SHA-256), not the address, so that Redis key
 * names (seen in `MONITOR`, `SCAN`, a slow log or a dashboard) carry no personal data, and, keyed with a server
 * secret, cannot be matched against a list of known addresses by hashing them. The email arrives normalised.
 */
export function emailCountKey(email: string, secret: Buffer | string): string {
  return createHmac('sha256', secret).update(email).digest('base64url').slice(0, 32);
}

/**
 * The key an IP's attempts are counted under: an IPv4 address itself (an IPv4-mapped IPv6 one as IPv4), an IPv6
 * address by its /64 (a subscriber's usual share: every address of `2001:db8:1:2::/64` is one client, which could
 * otherwise spread its guesses over as many counts as it has addresses), anything else as it is.
 */
export function ipCountKey(address: string): string {
  const bare = address.split('%')[0]!;
  if (isIPv4(bare) || !isIPv6(bare)) return bare;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped) return mapped[1]!;
  const groups = (part: string) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const [head = '', tail] = bare.split('::');
  const first = groups(head);
  const last = tail === undefined ? [] : groups(tail);
  const all = [...first, ...Array<string>(Math.max(0, 8 - first.length - last.length)).fill('0'), ...last];
  return `${all
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
