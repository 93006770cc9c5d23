import { HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { Clock } from '../common/clock.js';

interface Window {
  failures: number;
  startedAt: number;
}

/**
 * Counts failed sign-ins per email and per IP in a sliding-start window; past the limit, sign-in
 * answers 429 with Retry-After until the window ends. In memory: each instance counts its own
 * (a shared store would go in Redis when REDIS_URL serves several instances).
 */
@Injectable()
export class LoginAttemptsService {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  /** Throws 429 when either key is over the limit. */
  assertAllowed(email: string, ip: string): void {
    const now = this.clock.now().getTime();
    const retryAfter = Math.max(
      this.retryAfter(`email:${email}`, now, this.config.login.maxAttemptsPerEmail),
      this.retryAfter(`ip:${ip}`, now, this.config.login.maxAttemptsPerIp),
    );
    if (retryAfter > 0) {
      throw new HttpException(
        {
          message: `Too many failed sign-in attempts; try again in ${retryAfter} seconds`,
          headers: { 'Retry-After': String(retryAfter) },
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
  }

  recordFailure(email: string, ip: string): void {
    const now = this.clock.now().getTime();
    for (const key of [`email:${email}`, `ip:${ip}`]) {
      const window = this.current(key, now);
      window.failures += 1;
      this.windows.set(key, window);
    }
    this.prune(now);
  }

  recordSuccess(email: string): void {
    this.windows.delete(`email:${email}`);
  }

  private current(key: string, now: number): Window {
    const window = this.windows.get(key);
    if (!window || now - window.startedAt >= this.config.login.windowSeconds * 1000) return { failures: 0, startedAt: now };
    return window;
  }

  private retryAfter(key: string, now: number, limit: number): number {
    const window = this.current(key, now);
    if (window.failures < limit) return 0;
    return Math.ceil((window.startedAt + this.config.login.windowSeconds * 1000 - now) / 1000);
  }

  /** Keeps the map bounded under a spray of distinct emails. */
  private prune(now: number): void {
    if (this.windows.size < 10_000) return;
    for (const [key, window] of this.windows) {
      if (now - window.startedAt >= this.config.login.windowSeconds * 1000) this.windows.delete(key);
    }
  }
}
