/**
 * Command-line options of the bench scripts: `--flag value`, or the environment variable `BENCH_FLAG`
 * (dashes as underscores); `--help` prints the script's usage and exits.
 */
import { parseArgs } from 'node:util';
import { HarnessError } from './processes.js';

export interface BenchOptions {
  /** The raw value of a flag: the command line first, then BENCH_<FLAG>. */
  pick(flag: string): string | undefined;
  /** True when a boolean flag is given (or BENCH_<FLAG> is 1 or true). */
  flag(flag: string): boolean;
  /** A whole number of at least `min` (default 1), else a usage error. */
  whole(flag: string, fallback: number, min?: number): number;
  /** A comma-separated list, trimmed. */
  list(flag: string, fallback: string): string[];
  /** `--databases`: sqlite and/or postgres. */
  databases(fallback?: string): Array<'sqlite' | 'postgres'>;
}

export function readOptions(names: readonly string[], usage: string, booleans: readonly string[] = []): BenchOptions {
  const { values } = parseArgs({
    options: Object.fromEntries(
      [...names, ...booleans, 'help'].map((name) => [name, { type: booleans.includes(name) || name === 'help' ? 'boolean' : 'string' }]),
    ) as Record<string, { type: 'string' | 'boolean' }>,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const env = (flag: string) => process.env[`BENCH_${flag.toUpperCase().replaceAll('-', '_')}`];
  const pick = (flag: string): string | undefined => (values[flag] as string | undefined) ?? env(flag);
  const list = (flag: string, fallback: string) => (pick(flag) ?? fallback).split(',').map((v) => v.trim());
  return {
    pick,
    flag: (flag) => values[flag] === true || ['1', 'true'].includes(env(flag) ?? ''),
    whole(flag, fallback, min = 1) {
      const value = Number(pick(flag) ?? fallback);
      if (!Number.isInteger(value) || value < min) throw new HarnessError(`--${flag} must be a whole number >= ${min}\n${usage}`);
      return value;
    },
    list,
    databases(fallback = 'sqlite,postgres') {
      const databases = list('databases', fallback);
      if (databases.some((d) => d !== 'sqlite' && d !== 'postgres')) throw new HarnessError('--databases takes sqlite and/or postgres');
      return databases as Array<'sqlite' | 'postgres'>;
    },
  };
}
