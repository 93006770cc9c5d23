import type { LoggerOptions } from 'pino';
import { AppConfig } from '../config/app-config.js';
import { createRootLogger, pinoPrettyInstalled } from './app-logger.js';

/** What createRootLogger asked pino for, and the lines its logger wrote. */
const built = vi.hoisted(() => ({ options: [] as LoggerOptions[], lines: [] as string[] }));

// pino as it is, except that the root logger's options are recorded and its lines kept here: no transport is
// started (the test decides whether pino-pretty "is installed"), nothing goes to stdout.
vi.mock('pino', async (importOriginal) => {
  const actual = (await importOriginal<typeof import('pino')>()).default;
  const recording = Object.assign((options: LoggerOptions) => {
    built.options.push(options);
    return actual({ ...options, transport: undefined }, { write: (line: string) => void built.lines.push(line) });
  }, actual);
  return { default: recording };
});

const config = (env: Record<string, string>) => AppConfig.fromEnvironment({ LOG_LEVEL: 'log', ...env });

beforeEach(() => {
  built.options.length = 0;
  built.lines.length = 0;
});

describe('createRootLogger', () => {
  it('uses pino-pretty in development when it is installed', () => {
    createRootLogger(config({ NODE_ENV: 'development' }), { prettyAvailable: () => true });

    expect(built.options[0].transport).toMatchObject({ target: 'pino-pretty' });
    expect(built.lines).toEqual([]);
  });

  it('writes JSON lines in development when pino-pretty is not installed (npm ci --omit=dev), and says so once', () => {
    const logger = createRootLogger(config({ NODE_ENV: 'development' }), { prettyAvailable: () => false });
    logger.info('hello');

    expect(built.options[0]).not.toHaveProperty('transport');
    const lines = built.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, msg: expect.stringMatching(/pino-pretty is not installed/) }),
      expect.objectContaining({ level: 30, msg: 'hello' }),
    ]);
  });

  it('never asks for pino-pretty outside development', () => {
    const prettyAvailable = vi.fn(() => true);
    createRootLogger(config({ NODE_ENV: 'test' }), { prettyAvailable });

    expect(prettyAvailable).not.toHaveBeenCalled();
    expect(built.options[0]).not.toHaveProperty('transport');
    expect(built.lines).toEqual([]);
  });
});

describe('pinoPrettyInstalled', () => {
  it('is true when pino-pretty resolves (here, a dev install), false when resolving it throws', () => {
    expect(pinoPrettyInstalled()).toBe(true);
    expect(
      pinoPrettyInstalled(() => {
        throw Object.assign(new Error("Cannot find module 'pino-pretty'"), { code: 'MODULE_NOT_FOUND' });
      }),
    ).toBe(false);
  });
});
