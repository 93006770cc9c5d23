import { inspect } from 'node:util';
import { safeErrorText } from './log-redaction.js';

/** Where a crash is reported: the process itself, replaced in tests. */
export interface CrashTarget {
  on(event: 'uncaughtException' | 'unhandledRejection', listener: (error: unknown) => void): unknown;
}

/**
 * An exception nothing caught, or a promise rejection nothing handled, still ends the process (exit 1: as Node's
 * default, an orchestrator restarts it), but its last line is masked and escaped as every log line is: Node's own
 * report printed the error's text raw (a driver's or the SDK's message may quote a phone number) over several lines.
 * The stack's frames stay (file paths and line numbers), on the same line, for whoever reads the crash.
 */
export function installCrashHandlers(
  target: CrashTarget = process,
  print: (line: string) => void = (line) => console.error(line),
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  const report = (what: string) => (error: unknown) => {
    print(`${what}: ${safeErrorText(describe(error))}`);
    exit(1);
  };
  target.on('uncaughtException', report('Uncaught exception'));
  target.on('unhandledRejection', report('Unhandled rejection'));
}

/** An error's stack and the chain of its causes (`Caused by: …`), or any other value as `util.inspect` writes it. */
function describe(error: unknown, depth = 0): string {
  if (!(error instanceof Error)) return typeof error === 'string' ? error : inspect(error, { depth: 2, breakLength: Infinity });
  const own = error.stack ?? `${error.name}: ${error.message}`;
  return error.cause !== undefined && depth < 5 ? `${own}\nCaused by: ${describe(error.cause, depth + 1)}` : own;
}
