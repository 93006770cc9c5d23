import { Injectable, OnModuleInit } from '@nestjs/common';
import argon2 from 'argon2';
import { AppConfig } from '../config/app-config.js';

/**
 * argon2id hashing at the configured cost (PASSWORD_HASH_MEMORY_KIB, PASSWORD_HASH_ITERATIONS). A stored hash names
 * the cost it was made with, so it verifies whatever the setting says now; `needsRehash` tells sign-in to store a
 * cheaper one again at the current cost. The dummy hash lets sign-in spend the same time on an unknown email.
 */
@Injectable()
export class PasswordService implements OnModuleInit {
  private dummyHash?: Promise<string>;
  private readonly options: { type: typeof argon2.argon2id; memoryCost: number; timeCost: number };

  constructor(config: AppConfig) {
    this.options = { type: argon2.argon2id, memoryCost: config.passwordHash.memoryKib, timeCost: config.passwordHash.iterations };
  }

  /**
   * The dummy hash is made at start, in the background: made at the first sign-in of an unknown email, it made that one
   * take a hash and a verification (about four times a known email's), once per process.
   */
  onModuleInit(): void {
    this.dummyHash ??= this.hash('not-a-real-password-' + Math.random());
    // Awaited by the first sign-in that needs it; a failure here would surface there, not as an unhandled rejection.
    this.dummyHash.catch(() => undefined);
  }

  hash(password: string): Promise<string> {
    return argon2.hash(password, this.options);
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }

  /**
   * Whether this stored hash should be made again: not argon2id (or an older version of it), or cheaper than the
   * configured cost in memory or passes. Never downward: instances configured differently (a rolling deploy) would
   * otherwise rewrite each other's hashes at every sign-in.
   */
  needsRehash(hash: string): boolean {
    const match = /^\$argon2id\$v=(\d+)\$([^$]+)\$/.exec(hash);
    if (!match) return true;
    const params = new Map(match[2]!.split(',').map((pair) => pair.split('=') as [string, string]));
    const memory = Number(params.get('m'));
    const passes = Number(params.get('t'));
    if (!Number.isInteger(memory) || !Number.isInteger(passes)) return true;
    return Number(match[1]) < 0x13 || memory < this.options.memoryCost || passes < this.options.timeCost;
  }

  /** Spends one verification's worth of time, for callers that have no user to check. */
  async verifyAgainstDummy(password: string): Promise<false> {
    this.dummyHash ??= this.hash('not-a-real-password-' + Math.random());
    await this.verify(await this.dummyHash, password);
    return false;
  }
}
