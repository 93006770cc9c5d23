import type { LogLevel } from '@nestjs/common';
import { createRequire } from 'node:module';
import { Logger as NestPinoLogger, type Params, PinoLogger } from 'nestjs-pino';
import pino, { type DestinationStream, type Level, type LevelWithSilent, type Logger as Pino } from 'pino';
import type { AppConfig } from '../config/app-config.js';
import { LOG_LEVELS } from '../config/env.validation.js';
import { LOG_REDACTION, LOG_SERIALIZERS, maskLogArguments } from './log-redaction.js';

/** LOG_LEVEL (Nest's names, kept from before) as pino levels. */
export const PINO_LEVEL: Record<(typeof LOG_LEVELS)[number], Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/** The pino level for Nest's level list (`['fatal']` in tests), or `silent` for `false`. */
export function pinoLevelFor(levels: LogLevel[] | false): LevelWithSilent {
  if (levels === false || levels.length === 0) return 'silent';
  const mostVerbose = LOG_LEVELS.filter((level) => (levels as string[]).includes(level)).pop();
  return mostVerbose ? PINO_LEVEL[mostVerbose] : 'silent';
}

export interface LoggingOptions {
  /** Overrides LOG_LEVEL (tests keep it quiet). */
  level?: LevelWithSilent;
  /** Where the JSON lines go instead of stdout (tests capture them). */
  destination?: DestinationStream;
  /** Whether pino-pretty can be loaded (tests pretend either way); by default, {@link pinoPrettyInstalled}. */
  prettyAvailable?: () => boolean;
}

const requireHere = createRequire(import.meta.url);

/**
 * Whether pino-pretty resolves from here. It is a devDependency: an install with `npm ci --omit=dev` lacks it, and
 * pino's transport would then fail to start the whole service for the sake of colours.
 */
export function pinoPrettyInstalled(resolve: (id: string) => string = requireHere.resolve): boolean {
  try {
    resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * The application's one pino logger: JSON lines on stdout (pino-pretty when NODE_ENV=development and it is
 * installed), with numbers masked and secrets redacted by the serializers, `redact` and a hook on every message.
 * Fastify builds each request's child logger (with `requestId`) from it.
 */
export function createRootLogger(config: AppConfig, options: LoggingOptions = {}): Pino {
  const wantsPretty = config.nodeEnv === 'development' && !options.destination;
  const pretty = wantsPretty && (options.prettyAvailable ?? pinoPrettyInstalled)();
  const pinoOptions: pino.LoggerOptions = {
    level: options.level ?? PINO_LEVEL[config.logLevel],
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: LOG_REDACTION,
    serializers: LOG_SERIALIZERS,
    hooks: {
      logMethod(args, method) {
        method.apply(this, maskLogArguments(args) as Parameters<typeof method>);
      },
    },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true } } }
      : {}),
  };
  const logger = options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
  if (wantsPretty && !pretty) {
    // NODE_ENV defaults to development: a production install that forgot NODE_ENV=production gets JSON lines, and says why.
    logger.warn('Pretty log output is off: pino-pretty is not installed (a devDependency); writing JSON lines');
  }
  return logger;
}

/**
 * nestjs-pino keeps one process-wide root logger for lines written outside a request. Every app hands it
 * this silent placeholder, marked, so an app's logger can tell "outside a request" and write to its own
 * root instead: several apps in one process (the tests) each keep their own destination and level.
 * Loggers made from it (`child`) inherit the mark through their prototype.
 */
const OUTSIDE_REQUEST = Symbol('outsideRequest');
const placeholder = pino({ level: 'silent' });
Object.defineProperty(placeholder, OUTSIDE_REQUEST, { value: true });

/** LoggerModule's parameters: bind Fastify's own request logger (with its `requestId`) to each request. */
export const LOGGER_MODULE_PARAMS: Params = { pinoHttp: { logger: placeholder }, useExisting: true };

class AppPinoLogger extends PinoLogger {
  constructor(private readonly appRoot: Pino) {
    super(LOGGER_MODULE_PARAMS);
  }

  /** The request's logger inside a request (nestjs-pino's AsyncLocalStorage), else this app's root. */
  override get logger(): Pino {
    const current = super.logger as Pino & { [OUTSIDE_REQUEST]?: boolean };
    return current[OUTSIDE_REQUEST] ? this.appRoot : current;
  }
}

/**
 * Nest's logger for the whole app (`new Logger('Context')` everywhere, boot lines included): nestjs-pino's
 * LoggerService, writing through the request's logger when there is one, so each line carries its
 * `requestId`.
 */
export class AppLogger extends NestPinoLogger {
  constructor(readonly root: Pino) {
    super(new AppPinoLogger(root), LOGGER_MODULE_PARAMS);
  }
}
