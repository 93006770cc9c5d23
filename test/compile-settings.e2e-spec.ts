import { readFileSync } from 'node:fs';

const read = (file: string) => JSON.parse(readFileSync(new URL(`../${file}`, import.meta.url), 'utf8'));

/**
 * The tests run the sources through SWC (.swcrc, vitest.config.ts); `nest build`, `npm start` and the crash tests run
 * what tsc makes of them (tsconfig.json). Both must give classes the same fields: with tsc's default for an ES2022+
 * target (useDefineForClassFields true) every declared property of a DTO or an entity is an own property, undefined
 * when the request left it out, while SWC here leaves it absent. The journal of a refused user change listed every
 * field of the DTO in production, and only those sent in the tests.
 */
describe('Compiler settings', () => {
  it('compile class fields the same way for the tests (SWC) and the build (tsc)', () => {
    const swc = read('.swcrc');
    const tsc = read('tsconfig.json');
    expect(swc.jsc.transform.useDefineForClassFields).toBe(false);
    expect(tsc.compilerOptions.useDefineForClassFields).toBe(false);
  });
});
