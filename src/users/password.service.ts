import { Injectable } from '@nestjs/common';
import argon2 from 'argon2';
import { AppConfig } from '../config/app-config.js';

/**
 * argon2id hashing at the configured cost (PASSWORD_HASH_MEMORY_KIB, PASSWORD_HASH_ITERATIONS). A stored hash names
 * the cost it was made with, so it verifies whatever the setting says now; `needsRehash` tells sign-in to store it
 * again at the current cost. The dummy hash lets sign-in spend the same time on an unknown email.
 */
@Injectable()
export class PasswordService {
  private dummyHash?: Promise<string>;
  private readonly options: { type: typeof argon2.argon2id; memoryCost: number; timeCost: number };

  constructor(config: AppConfig) {
    this.options = { type: argon2.argon2id, memoryCost: config.passwordHash.memoryKib, timeCost: config.passwordHash.iterations };
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

  /** Whether this stored hash was made with another cost (or algorithm) than the configured one. */
  needsRehash(hash: string): boolean {
    try {
      return argon2.needsRehash(hash, this.options);
    } catch {
      return true;
    }
  }

  /** Spends one verification's worth of time, for callers that have no user to check. */
  async verifyAgainstDummy(password: string): Promise<false> {
    this.dummyHash ??= this.hash('not-a-real-password-' + Math.random());
    await this.verify(await this.dummyHash, password);
    return false;
  }
}
