import argon2 from 'argon2';
import type { AppConfig } from '../config/app-config.js';
import { PasswordService } from './password.service.js';

const service = (memoryKib: number, iterations: number) =>
  new PasswordService({ passwordHash: { memoryKib, iterations } } as unknown as AppConfig);

describe(PasswordService.name, () => {
  it('should hash with argon2id at the configured memory and passes, and verify only the same password', async () => {
    const sut = service(512, 2);

    const hash = await sut.hash('correct-horse-battery');

    expect(hash).toMatch(/^\$argon2id\$v=19\$m=512,p=\d+,t=2\$/);
    await expect(sut.verify(hash, 'correct-horse-battery')).resolves.toBe(true);
    await expect(sut.verify(hash, 'correct-horse-batterx')).resolves.toBe(false);
  });

  it('makes the dummy hash at start: the first unknown email spends one verification, not a hash and a verification', async () => {
    const sut = service(512, 2);
    const hash = vi.spyOn(sut, 'hash');
    sut.onModuleInit();
    expect(hash).toHaveBeenCalledTimes(1);
    await expect(sut.verifyAgainstDummy('anything')).resolves.toBe(false);
    await sut.verifyAgainstDummy('anything else');
    expect(hash).toHaveBeenCalledTimes(1);
  });

  it('should verify a hash made at another cost, and say it needs to be made again', async () => {
    const older = await service(256, 1).hash('correct-horse-battery');
    const sut = service(512, 2);

    await expect(sut.verify(older, 'correct-horse-battery')).resolves.toBe(true);
    expect(sut.needsRehash(older)).toBe(true);
    expect(sut.needsRehash(await sut.hash('correct-horse-battery'))).toBe(false);
  });

  it('should not make a costlier hash again at a lower setting (instances set differently would undo each other)', async () => {
    const costlier = await service(1024, 3).hash('correct-horse-battery');
    const sut = service(512, 2);

    expect(sut.needsRehash(costlier)).toBe(false);
    expect(sut.needsRehash(await service(1024, 1).hash('x'))).toBe(true);
    expect(sut.needsRehash(await service(256, 3).hash('x'))).toBe(true);
  });

  it('should make an argon2i or argon2d hash again as argon2id', async () => {
    const sut = service(256, 1);
    const argon2i = await argon2.hash('correct-horse-battery', { type: argon2.argon2i, memoryCost: 4096, timeCost: 3 });

    await expect(sut.verify(argon2i, 'correct-horse-battery')).resolves.toBe(true);
    expect(sut.needsRehash(argon2i)).toBe(true);
  });

  it('should answer false, not throw, for a stored value that is not an argon2 hash', async () => {
    const sut = service(256, 1);

    await expect(sut.verify('not-a-hash', 'x')).resolves.toBe(false);
    expect(sut.needsRehash('not-a-hash')).toBe(true);
  });
});
