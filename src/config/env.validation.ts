import Holidays from 'date-holidays';
import { isIP } from 'node:net';
import { type CountryCode, isSupportedCountry } from 'libphonenumber-js/max';
import { IsText } from '../common/dto/validators.js';
import { ALPHANUMERIC_SENDER_ID, E164_SHAPE } from '../phone/sender-ids.js';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsEmail,
  IsIn,
  IsInt,
  IsIP,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
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

/** Keeps an empty value as '' (a deliberate "off"), trimming the rest. */
const keepEmpty = Transform(({ value }) => (typeof value === 'string' ? value.trim() : value));

const DURATION = /^(\d+)\s*(ms|s|m|h|d)?$/;
/** Whether date-holidays knows this country's public holidays (it answers none, silently, for one it does not). */
function hasPublicHolidays(country: string): boolean {
  return Object.hasOwn(new Holidays().getCountries(), country.toUpperCase());
}

/** The token lifetimes JWT_EXPIRES_IN allows: a minute (a shorter one expires before it is used) to a year. */
export const TOKEN_LIFETIME_SECONDS = { min: 60, max: 365 * 86_400 } as const;

/** A duration such as `3600`, `15m`, `1h` or `7d` (seconds without a unit), in seconds. */
export function durationToSeconds(value: string): number {
  const match = DURATION.exec(value.trim())!;
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[match[2] ?? 's']!;
  return Math.round(Number(match[1]) * factor);
}
const MARKETING_HOURS =
  /^\s*(mon|tue|wed|thu|fri|sat|sun)(\s*-\s*(mon|tue|wed|thu|fri|sat|sun))?\s+([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)\s*$/i;
const KEYWORD_LIST = /^[^,]+(,[^,]+)*$/;
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

  /** The address to listen on: an IP address (0.0.0.0 all IPv4 interfaces, :: all, 127.0.0.1 this machine only) or localhost. */
  @IsOptional()
  @ValidateIf((env: EnvironmentVariables) => env.HOST !== 'localhost')
  @IsIP(undefined, { message: 'HOST must be an IP address (0.0.0.0, ::, 127.0.0.1, ::1…) or localhost' })
  @emptyAsUndefined
  HOST?: string;

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

  /** PostgreSQL: how long one query may go unanswered before its connection is closed; 0: no bound. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  @toInt
  DATABASE_QUERY_TIMEOUT_MS?: number;

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

  /**
   * Checked by the rule sign-in checks a password with (IsText, LoginDto: 256 characters at most, as String#length
   * counts them), so that no superadmin is created that nobody can sign in as. Surrounding spaces are removed, as from
   * every setting (a stray space, a Windows line end), and the password is the rest: what sign-in then expects.
   */
  @IsOptional()
  @IsText({ min: 12, max: 256, tooLong: 'must be at most 256 characters long (the longest password sign-in accepts)' })
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
  @Matches(new RegExp(`${E164_SHAPE.source}|${ALPHANUMERIC_SENDER_ID.source}`), {
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

  /** How long calls to the provider stop once it looks down (ProviderCircuit); 0: no circuit. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  @toInt
  SMS_CIRCUIT_RESET_MS?: number;

  /** Past SMS_MAX_ATTEMPTS, a message keeps being retried through a provider outage this long after its first attempt; 0: never. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(604_800_000)
  @toInt
  SMS_OUTAGE_RETRY_MS?: number;

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
  @Matches(/^[A-Za-z0-9:_.-]{1,64}$/, { message: 'REDIS_KEY_PREFIX must be 1 to 64 letters, digits or : _ . -' })
  @emptyAsUndefined
  REDIS_KEY_PREFIX?: string;

  @IsOptional()
  @IsIn(LOG_LEVELS)
  @emptyAsUndefined
  LOG_LEVEL?: (typeof LOG_LEVELS)[number];

  @IsOptional()
  @IsString()
  @MinLength(24, { message: 'METRICS_TOKEN must be at least 24 characters long' })
  @Matches(/^[\x21-\x7e]+$/, { message: 'METRICS_TOKEN must be printable ASCII without spaces' })
  @emptyAsUndefined
  METRICS_TOKEN?: string;

  @IsOptional()
  @IsInt()
  @Min(1024)
  @Max(50 * 1024 * 1024)
  @toInt
  BODY_LIMIT_BYTES?: number;

  @IsOptional()
  @IsInt()
  @Min(1000)
  @Max(600_000)
  @toInt
  HTTP_REQUEST_TIMEOUT_MS?: number;

  @IsOptional()
  @IsString()
  @emptyAsUndefined
  TRUST_PROXY?: string;

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
  LOGIN_MAX_ATTEMPTS_PER_ACCOUNT?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100000)
  @toInt
  LOGIN_MAX_ATTEMPTS_PER_IP?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100000)
  @toInt
  LOGIN_MAX_PER_IP_PER_MINUTE?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86400)
  @toInt
  LOGIN_WINDOW_SECONDS?: number;

  /** argon2id memory per password hash, in KiB (argon2's minimum is 8 per lane; OWASP's floor is 19456). */
  @IsOptional()
  @IsInt()
  @Min(64)
  @Max(4 * 1024 * 1024)
  @toInt
  PASSWORD_HASH_MEMORY_KIB?: number;

  /** argon2id passes over that memory per password hash. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(20)
  @toInt
  PASSWORD_HASH_ITERATIONS?: number;

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
  @IsIn(['true', 'false'], { message: 'API_DOCS_ENABLED must be true or false' })
  @emptyAsUndefined
  API_DOCS_ENABLED?: 'true' | 'false';

  @IsOptional()
  @IsIn(['true', 'false'], { message: 'EVENT_RELAY_ENABLED must be true or false' })
  @emptyAsUndefined
  EVENT_RELAY_ENABLED?: 'true' | 'false';

  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @Matches(new RegExp(`^(${QUIET_HOURS.source.slice(1, -1)})?$`), {
    message: 'QUIET_HOURS must be HH:MM-HH:MM (for example 21:00-08:00) or empty',
  })
  QUIET_HOURS?: string;

  // --- Limits and retention (README, "Limits and retention") ---

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  @toInt
  SMS_USER_MAX_PER_MINUTE?: number;

  /** Comma-separated ISO 3166-1 alpha-2 codes (FR,RE,GP,MQ,BE); empty or unset: every country. */
  @IsOptional()
  @IsString()
  @emptyAsUndefined
  SMS_ALLOWED_COUNTRIES?: string;

  @IsOptional()
  @IsString()
  @emptyAsUndefined
  CORS_ORIGINS?: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(36500)
  @toInt
  RETENTION_DAYS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(7 * 24 * 60)
  @toInt
  RETENTION_INTERVAL_MINUTES?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000)
  @toInt
  RETENTION_CHUNK_SIZE?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(60_000)
  @toInt
  RETENTION_CHUNK_PAUSE_MS?: number;
  @IsOptional()
  @Matches(KEYWORD_LIST, { message: 'SMS_OPT_OUT_KEYWORDS must be a comma-separated list of words (for example STOP,ARRET)' })
  @emptyAsUndefined
  SMS_OPT_OUT_KEYWORDS?: string;

  @IsOptional()
  @Matches(KEYWORD_LIST, { message: 'SMS_OPT_IN_KEYWORDS must be a comma-separated list of words (for example START,OUI)' })
  @emptyAsUndefined
  SMS_OPT_IN_KEYWORDS?: string;

  @IsOptional()
  @Matches(KEYWORD_LIST, { message: 'SMS_HELP_KEYWORDS must be a comma-separated list of words (for example HELP,AIDE)' })
  @emptyAsUndefined
  SMS_HELP_KEYWORDS?: string;

  @IsOptional()
  @Matches(MARKETING_HOURS, { message: 'SMS_MARKETING_HOURS must be days and hours such as Mon-Sat 08:00-20:00' })
  @emptyAsUndefined
  SMS_MARKETING_HOURS?: string;

  /** Country whose public holidays hold marketing SMS (date-holidays); empty: none. */
  @IsOptional()
  @Matches(/^([A-Za-z]{2})?$/, { message: 'SMS_MARKETING_HOLIDAYS must be a two-letter country code such as FR, or empty' })
  @keepEmpty
  SMS_MARKETING_HOLIDAYS?: string;

  @IsOptional()
  @IsString()
  @MaxLength(100)
  @emptyAsUndefined
  SMS_MARKETING_STOP_MENTION?: string;

  /** The three reply texts: unset → the French default; set but empty → no reply. */
  @IsOptional()
  @IsString()
  @MaxLength(1600)
  @keepEmpty
  SMS_HELP_REPLY?: string;

  @IsOptional()
  @IsString()
  @MaxLength(1600)
  @keepEmpty
  SMS_OPT_OUT_REPLY?: string;

  @IsOptional()
  @IsString()
  @MaxLength(1600)
  @keepEmpty
  SMS_OPT_IN_REPLY?: string;
}

const TYPE_CONSTRAINTS = ['isInt', 'isNumber', 'isBoolean', 'isString'];

function flatten(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => {
    // The type's message first (`PORT must be an integer number`, not a range that a word cannot be in), else the first.
    const constraints = Object.values(e.constraints ?? {});
    const first = TYPE_CONSTRAINTS.map((name) => e.constraints?.[name]).find(Boolean) ?? constraints[0];
    // class-validator names the property in its default messages.
    return first ? [first.startsWith(e.property) ? first : `${e.property}: ${first}`] : [];
  });
}

function isValidTimeZone(tz: string): boolean {
  // A zone name (Region/City, UTC), not an offset such as `+05:00`, which newer ICU versions accept: luxon would read it
  // as 5 hours east and PostgreSQL's AT TIME ZONE (POSIX) as 5 hours west.
  if (/^[+-]|^(UTC|GMT)[+-]/i.test(tz.trim())) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** proxy-addr's (Fastify's) names for address ranges, usable in a TRUST_PROXY list. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** An address or CIDR, as Fastify's `trustProxy` list accepts them (IPv4/IPv6, or a range name). */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address, bits, extra] = entry.split('/');
  const version = isIP(address);
  if (!version || extra !== undefined) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (version === 4 ? 32 : 128);
}

/**
 * `TRUST_PROXY` as Fastify's `trustProxy` option: `true` (trust every peer's X-Forwarded-* headers),
 * `false` (none), or a comma-separated list of the proxies' addresses and CIDRs. A hop count is
 * refused: Fastify 5 dropped it (it trusts nothing with a number, since the peer is not checked).
 * Returns null when the value is none of these.
 */
export function parseTrustProxy(value: string | undefined): boolean | string[] | null {
  if (value === undefined) return false;
  const text = value.trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  const entries = text.split(',').map((entry) => entry.trim());
  return entries.every(isProxyAddress) ? entries : null;
}

/**
 * `CORS_ORIGINS` as a list of origins (`scheme://host[:port]`, lower-cased, no path), `['*']` for any origin,
 * `[]` when unset (CORS off). Returns null when an entry is not an origin.
 */
export function parseCorsOrigins(value: string | undefined): string[] | null {
  if (value === undefined) return [];
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 1 && entries[0] === '*') return ['*'];
  const origins: string[] = [];
  for (const entry of entries) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      return null;
    }
    // An origin is scheme, host and port only: what a browser sends in its Origin header.
    if (!['http:', 'https:'].includes(url.protocol) || url.origin !== entry.replace(/\/$/, '').toLowerCase()) return null;
    origins.push(url.origin);
  }
  return origins.length ? origins : null;
}

/** Validates the raw environment and applies the cross-field rules (production requirements). */
export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const env = plainToInstance(EnvironmentVariables, raw, { excludeExtraneousValues: false });
  const problems = flatten(validateSync(env, { skipMissingProperties: false, forbidUnknownValues: false }));

  if (parseTrustProxy(env.TRUST_PROXY) === null) {
    problems.push(
      /^\s*\d+\s*$/.test(env.TRUST_PROXY!)
        ? "TRUST_PROXY cannot be a hop count (Fastify 5 ignores it): list the proxies' addresses or CIDRs"
        : 'TRUST_PROXY must be true, false, or a comma-separated list of proxy addresses/CIDRs (10.0.0.0/8,::1, loopback)',
    );
  }
  if (parseCorsOrigins(env.CORS_ORIGINS) === null) {
    problems.push(
      'CORS_ORIGINS must be * or a comma-separated list of origins such as https://app.example.com,http://localhost:5173 (no path)',
    );
  }
  const marketing = env.SMS_MARKETING_HOURS ? MARKETING_HOURS.exec(env.SMS_MARKETING_HOURS) : null;
  const marketingEnd = marketing ? Number(marketing[6]) * 60 + Number(marketing[7]) : 0;
  if (marketing && (marketingEnd <= Number(marketing[4]) * 60 + Number(marketing[5]) || marketingEnd > 24 * 60)) {
    problems.push('SMS_MARKETING_HOURS must end after it starts, within one day, at 24:00 at the latest (for example Mon-Sat 08:00-20:00)');
  }
  if (env.SMS_MARKETING_HOLIDAYS && /^[A-Za-z]{2}$/.test(env.SMS_MARKETING_HOLIDAYS) && !hasPublicHolidays(env.SMS_MARKETING_HOLIDAYS)) {
    problems.push(
      `SMS_MARKETING_HOLIDAYS must be a country whose public holidays date-holidays knows (such as FR), or empty; ${env.SMS_MARKETING_HOLIDAYS} is not one`,
    );
  }
  if (typeof env.SMS_CIRCUIT_RESET_MS === 'number' && env.SMS_CIRCUIT_RESET_MS > 0 && env.SMS_CIRCUIT_RESET_MS < 1000) {
    problems.push(`SMS_CIRCUIT_RESET_MS must be 0 (no circuit) or at least 1000 ms (got ${env.SMS_CIRCUIT_RESET_MS})`);
  }
  // A lease shorter than a call would let another worker take a message up while its call is still running.
  if (typeof env.SMS_LEASE_MS === 'number' && env.SMS_LEASE_MS <= (env.TWILIO_TIMEOUT_MS ?? 10_000)) {
    problems.push(
      `SMS_LEASE_MS must be longer than TWILIO_TIMEOUT_MS (${env.TWILIO_TIMEOUT_MS ?? 10_000} ms): a message's claim must outlast its call (got ${env.SMS_LEASE_MS})`,
    );
  }
  const quiet = env.QUIET_HOURS ? /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec(env.QUIET_HOURS.trim()) : null;
  if (quiet && quiet[1] === quiet[2]) {
    problems.push(`QUIET_HOURS must start and end at different times (empty turns them off); got ${env.QUIET_HOURS}`);
  }
  if (env.JWT_EXPIRES_IN && DURATION.test(env.JWT_EXPIRES_IN.trim())) {
    const seconds = durationToSeconds(env.JWT_EXPIRES_IN);
    if (seconds < TOKEN_LIFETIME_SECONDS.min || seconds > TOKEN_LIFETIME_SECONDS.max) {
      problems.push(`JWT_EXPIRES_IN must be between 1m and 365d (got ${env.JWT_EXPIRES_IN})`);
    }
  }
  if (typeof env.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT === 'number' && env.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT < (env.LOGIN_MAX_ATTEMPTS ?? 5)) {
    problems.push(
      `LOGIN_MAX_ATTEMPTS_PER_ACCOUNT (failures from all addresses) must be at least LOGIN_MAX_ATTEMPTS (from one address, ${env.LOGIN_MAX_ATTEMPTS ?? 5}); got ${env.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT}`,
    );
  }
  if (env.SMS_ALLOWED_COUNTRIES) {
    const unknown = parseCountryList(env.SMS_ALLOWED_COUNTRIES).filter((code) => !isSupportedCountry(code));
    if (unknown.length)
      problems.push(
        `SMS_ALLOWED_COUNTRIES must list two-letter country codes libphonenumber knows, comma-separated (FR,RE,BE): ${unknown.join(', ')} is not one`,
      );
  }
  if (env.DEFAULT_TIMEZONE && !isValidTimeZone(env.DEFAULT_TIMEZONE)) {
    problems.push('DEFAULT_TIMEZONE must be an IANA time zone such as Europe/Paris');
  }
  const production = env.NODE_ENV === 'production';
  if (production && !env.JWT_SECRET) problems.push('JWT_SECRET is required in production (at least 32 characters)');
  if (production && !env.ADMIN_EMAIL) problems.push('ADMIN_EMAIL is required in production');
  if (production && !env.ADMIN_PASSWORD) problems.push('ADMIN_PASSWORD is required in production');
  if (production && env.TWILIO_API_BASE_URL && !twilioUrlKeepsCredentials(env.TWILIO_API_BASE_URL)) {
    problems.push('TWILIO_API_BASE_URL must be https in production (http sends the Twilio credentials in clear), but on this machine');
  }
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
  if (
    env.DEFAULT_COUNTRY &&
    /^[A-Za-z]{2}$/.test(env.DEFAULT_COUNTRY) &&
    !isSupportedCountry(env.DEFAULT_COUNTRY.toUpperCase() as CountryCode)
  ) {
    problems.push(`DEFAULT_COUNTRY must be a country with phone numbers (two letters, such as FR); ${env.DEFAULT_COUNTRY} is not one`);
  }
  if (problems.length) throw new ConfigValidationError(problems);
  return env;
}

/** SMS_ALLOWED_COUNTRIES as codes, upper-cased, without blanks or repeats (empty: no list). */
export function parseCountryList(value: string | undefined): string[] {
  return [
    ...new Set(
      (value ?? '')
        .split(',')
        .map((code) => code.trim().toUpperCase())
        .filter(Boolean),
    ),
  ];
}

/** An https URL, or http to this machine itself (a local relay): the Twilio credentials never cross a network in clear. */
function twilioUrlKeepsCredentials(value: string): boolean {
  try {
    const url = new URL(value.trim());
    if (url.protocol === 'https:') return true;
    return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  } catch {
    return true; // its own check names a malformed URL
  }
}
