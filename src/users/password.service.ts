import { Injectable } from '@nestjs/common';
import argon2 from 'argon2';

/** argon2id hashing. The dummy hash lets sign-in spend the same time on an unknown email. */
@Injectable()
export class PasswordService {
  private dummyHash?: Promise<string>;

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id });
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }

  /** Spends one verification's worth of time, for callers that have no user to check. */
  async verifyAgainstDummy(password: string): Promise<false> {
    this.dummyHash ??= this.hash('not-a-real-password-' + Math.random());
    await this.verify(await this.dummyHash, password);
    return false;
  }
}
