import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

/**
 * The service compiled as `nest build` does it (tsc with tsconfig.build.json, then the template files beside
 * the code, see nest-cli.json), into a folder of the calling test file's own under `.tmp/`: test files run in
 * parallel, and two builds into one `dist/` (`nest build` empties it first) would pull files from under a
 * running process. `main` is the entry point to spawn; `remove()` deletes the folder.
 */
export function buildApp(name: string): { dir: string; main: string; remove(): void } {
  const dir = join(root, '.tmp', `${name}-${randomBytes(4).toString('hex')}`);
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')], { cwd: root, stdio: 'pipe' });
  cpSync(join(root, 'src/sms/templates'), join(dir, 'dist/sms/templates'), { recursive: true, filter: (f) => !f.endsWith('.ts') });
  // `"type": "module"` and the version the health route reads.
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  return { dir, main: join(dir, 'dist/main.js'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
