import { EventEmitter } from 'node:events';
import { installCrashHandlers } from './crash-handlers.js';

describe('installCrashHandlers', () => {
  const setUp = () => {
    const target = new EventEmitter();
    const lines: string[] = [];
    const exits: number[] = [];
    installCrashHandlers(
      target,
      (line) => lines.push(line),
      (code) => exits.push(code),
    );
    return { target, lines, exits };
  };

  it('prints an uncaught exception masked, on one line, with its stack frames, and exits 1', () => {
    const { target, lines, exits } = setUp();
    target.emit('uncaughtException', new Error('Twilio said: +33612345678 is not reachable\nsecond line'));
    expect(exits).toEqual([1]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Uncaught exception: Error: Twilio said: \+33 6 \*\* \*\* \*\* 78 is not reachable/);
    expect(lines[0]).not.toContain('612345678');
    expect(lines[0]).not.toContain('\n');
    expect(lines[0]).toContain('crash-handlers.spec.ts');
  });

  it('prints the causes of an error, and a value that is no error as inspected, masked', () => {
    const { target, lines } = setUp();
    target.emit('uncaughtException', new Error('send failed', { cause: new Error('socket to +33612345678 closed') }));
    expect(lines[0]).toMatch(/^Uncaught exception: Error: send failed.*Caused by: Error: socket to \+33 6 \*\* \*\* \*\* 78 closed/);
    target.emit('unhandledRejection', { code: 'E_SEND', to: '+33612345678' });
    expect(lines[1]).toMatch(/^Unhandled rejection: \{ code: 'E_SEND', to: '\+33 6 \*\* \*\* \*\* 78' \}$/);
  });

  it('prints an unhandled rejection of any value masked, and exits 1', () => {
    const { target, lines, exits } = setUp();
    target.emit('unhandledRejection', 'lost: 06 12 34 56 78');
    expect(exits).toEqual([1]);
    expect(lines[0]).toMatch(/^Unhandled rejection: lost: /);
    expect(lines[0]).not.toContain('34 56');
  });
});
