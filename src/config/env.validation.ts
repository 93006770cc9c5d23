import { plainToInstance, Transform } from 'class-transformer';
import {
  IsEmail,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
  ValidationError,
} from 'class-validator';

/** Raised when the environment cannot run the service; main.ts prints its one line and exits. */
export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigValidationError';
  }
}

export const NODE_ENVS = ['development', 'production', 'test'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
export const SMS_PROVIDERS = ['twilio', 'dry-run'] as const;

/** An empty variable (`FOO=`) counts as unset, as people expect from `.env` files. */
const emptyAsUndefined = Transform(({ value }) =>
  typeof value === 'string' && value.trim() === '' ? undefined : typeof value === 'string' ? value.trim() : value,
);
const toInt = Transform(({ value }) => {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  return /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
});

const DURATION = /^\d+\s*(ms|s|m|h|d)?$/;
const QUIET_HOURS = /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/;

/**
 * Every variable the service reads, with its rule. Values are validated once at boot;
 * `AppConfig` exposes them typed, so nothing else reads `process.env`.
 */
export class EnvironmentVariables {
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(65535)
  @toInt
  PORT?: number;

  @IsOptional()
  @IsIn(NODE_ENVS)
  @emptyAsUndefined
  NODE_ENV?: (typeof NODE_ENVS)[number];

  @IsOptional()
  @Matches(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, {
    message: 'DATABASE_URL must be sqlite:<path>, sqlite::memory: or postgres://user@host:port/db',
  })
  @emptyAsUndefined
  DATABASE_URL?: string;

  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'JWT_SECRET must be at least 32 characters long' })
  @emptyAsUndefined
  JWT_SECRET?: string;

  @IsOptional()
  @Matches(DURATION, { message: 'JWT_EXPIRES_IN must be a duration such as 3600, 15m, 1h or 7d' })
  @emptyAsUndefined
  JWT_EXPIRES_IN?: string;

  @IsOptional()
  @IsEmail({ require_tld: false }, { message: 'ADMIN_EMAIL must be an email address' })
  @emptyAsUndefined
  ADMIN_EMAIL?: string;

  @IsOptional()
  @IsString()
  @MinLength(12, { message: 'ADMIN_PASSWORD must be at least 12 characters long' })
  @emptyAsUndefined
  ADMIN_PASSWORD?: string;

  @IsOptional()
  @Matches(/^AC[0-9a-fA-F]{32}$/, { message: 'TWILIO_ACCOUNT_SID must be "AC" followed by 32 hexadecimal characters' })
  @emptyAsUndefined
  TWILIO_ACCOUNT_SID?: string;

  @IsOptional()
  @IsString()
  @MinLength(8, { message: 'TWILIO_AUTH_TOKEN looks too short to be a Twilio auth token' })
  @emptyAsUndefined
  TWILIO_AUTH_TOKEN?: string;

  @IsOptional()
  @Matches(/^(\+[1-9]\d{6,14}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11})$/, {
    message: 'TWILIO_PHONE_NUMBER must be an E.164 number (+33612345678) or an alphanumeric sender ID of at most 11 characters',
  })
  @emptyAsUndefined
  TWILIO_PHONE_NUMBER?: string;

  @IsOptional()
  @Matches(/^MG[0-9a-fA-F]{32}$/, { message: 'TWILIO_MESSAGING_SERVICE_SID must be "MG" followed by 32 hexadecimal characters' })
  @emptyAsUndefined
  TWILIO_MESSAGING_SERVICE_SID?: string;

  @IsOptional()
  @IsUrl(
    { require_tld: false, protocols: ['http', 'https'], require_protocol: true },
    { message: 'TWILIO_API_BASE_URL must be an http(s) URL' },
  )
  @emptyAsUndefined
  TWILIO_API_BASE_URL?: string;

  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(120000)
  @toInt
  TWILIO_TIMEOUT_MS?: number;

  @IsOptional()
  @IsIn(SMS_PROVIDERS)
  @emptyAsUndefined
  SMS_PROVIDER?: (typeof SMS_PROVIDERS)[number];

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  @toInt
  SMS_BULK_MAX_RECIPIENTS?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(600_000)
  @toInt
  SMS_SEND_WAIT_MS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  @toInt
  SMS_MAX_CONCURRENCY?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000)
  @toInt
  SMS_MAX_PER_SECOND?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(50)
  @toInt
  SMS_MAX_ATTEMPTS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3_600_000)
  @toInt
  SMS_RETRY_BASE_MS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86_400_000)
  @toInt
  SMS_RETRY_MAX_MS?: number;

  @IsOptional()
  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  @toInt
  SMS_LEASE_MS?: number;

  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(600_000)
  @toInt
  SMS_POLL_INTERVAL_MS?: number;

  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'SMS_QUEUE_NAME must be 1-64 letters, digits, - or _' })
  @emptyAsUndefined
  SMS_QUEUE_NAME?: string;

  @IsOptional()
  @IsUrl(
    { require_tld: false, protocols: ['http', 'https'], require_protocol: true },
    { message: 'PUBLIC_BASE_URL must be an http(s) URL' },
  )
  @emptyAsUndefined
  PUBLIC_BASE_URL?: string;

  @IsOptional()
  @Matches(/^[A-Za-z]{2}$/, { message: 'DEFAULT_COUNTRY must be a two-letter ISO country code such as FR' })
  @emptyAsUndefined
  DEFAULT_COUNTRY?: string;

  @IsOptional()
  @IsString()
  @emptyAsUndefined
  DEFAULT_TIMEZONE?: string;

  @IsOptional()
  @Matches(/^rediss?:\/\/.+/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  @emptyAsUndefined
  REDIS_URL?: string;

  @IsOptional()
  @IsIn(LOG_LEVELS)
  @emptyAsUndefined
  LOG_LEVEL?: (typeof LOG_LEVELS)[number];

  @IsOptional()
  @IsInt()
  @Min(1024)
  @Max(50 * 1024 * 1024)
  @toInt
  BODY_LIMIT_BYTES?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  @toInt
  LOGIN_MAX_ATTEMPTS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100000)
  @toInt
  LOGIN_MAX_ATTEMPTS_PER_IP?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86400)
  @toInt
  LOGIN_WINDOW_SECONDS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(24 * 30)
  @toInt
  REMINDER_LEAD_HOURS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(60)
  @toInt
  REMINDER_SCAN_INTERVAL_SECONDS?: number;

  @IsOptional()
  @IsIn(['true', 'false'], { message: 'REMINDERS_ENABLED must be true or false' })
  @emptyAsUndefined
  REMINDERS_ENABLED?: 'true' | 'false';

  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @Matches(new RegExp(`^(${QUIET_HOURS.source.slice(1, -1)})?$`), {
    message: 'QUIET_HOURS must be HH:MM-HH:MM (for example 21:00-08:00) or empty',
  })
  QUIET_HOURS?: string;
}

function flatten(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => {
    const constraints = Object.values(e.constraints ?? {});
    // class-validator names the property in its default messages; keep the first, clearest one.
    return constraints.length ? [constraints[0].startsWith(e.property) ? constraints[0] : `${e.property}: ${constraints[0]}`] : [];
  });
}

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Validates the raw environment and applies the cross-field rules (production requirements). */
export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const env = plainToInstance(EnvironmentVariables, raw, { excludeExtraneousValues: false });
  const problems = flatten(validateSync(env, { skipMissingProperties: false, forbidUnknownValues: false }));

  if (env.DEFAULT_TIMEZONE && !isValidTimeZone(env.DEFAULT_TIMEZONE)) {
    problems.push('DEFAULT_TIMEZONE must be an IANA time zone such as Europe/Paris');
  }
  const production = env.NODE_ENV === 'production';
  if (production && !env.JWT_SECRET) problems.push('JWT_SECRET is required in production (at least 32 characters)');
  if (production && !env.ADMIN_EMAIL) problems.push('ADMIN_EMAIL is required in production');
  if (production && !env.ADMIN_PASSWORD) problems.push('ADMIN_PASSWORD is required in production');
  const twilioParts = [env.TWILIO_ACCOUNT_SID, env.TWILIO_AUTH_TOKEN].filter(Boolean).length;
  if (twilioParts === 1) problems.push('TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together');
  const hasSender = !!(env.TWILIO_PHONE_NUMBER || env.TWILIO_MESSAGING_SERVICE_SID);
  if (twilioParts === 2 && !hasSender) {
    problems.push('TWILIO_PHONE_NUMBER or TWILIO_MESSAGING_SERVICE_SID is required with Twilio credentials');
  }
  if (env.SMS_PROVIDER === 'twilio' && twilioParts < 2) {
    problems.push('SMS_PROVIDER=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN');
  }
  if (production && twilioParts < 2 && env.SMS_PROVIDER !== 'dry-run') {
    problems.push('TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required in production (or set SMS_PROVIDER=dry-run explicitly)');
  }
  if (problems.length) throw new ConfigValidationError(problems);
  return env;
}
