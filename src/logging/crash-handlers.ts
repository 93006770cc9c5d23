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
    const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : error;
    print(`${what}: ${safeErrorText(text)}`);
    exit(1);
  };
  target.on('uncaughtException', report('Uncaught exception'));
  target.on('unhandledRejection', report('Unhandled rejection'));
}
