import { randomBytes } from 'node:crypto';
import {
  ConfigValidationError,
  durationToSeconds,
  EnvironmentVariables,
  parseCorsOrigins,
  parseCountryList,
  parseTrustProxy,
  validateEnvironment,
} from './env.validation.js';

export type DatabaseConfig =
  | { type: 'sqlite'; path: string /* ':memory:' or a file path */ }
  /** queryTimeoutMs: how long a query may go unanswered before its connection is closed (0: no bound). */
  | { type: 'postgres'; url: string; queryTimeoutMs?: number };

export interface QuietHours {
  /** Minutes after local midnight when quiet hours begin / end (end may be before start: overnight). */
  startMinute: number;
  endMinute: number;
  text: string;
}

/** Keywords and replies for inbound SMS (STOP/START/HELP); replies '' mean "answer nothing". */
export interface InboundSmsConfig {
  /** Folded (upper case, no accents, single spaces): compare with foldKeyword(body). */
  optOutKeywords: string[];
  optInKeywords: string[];
  helpKeywords: string[];
  helpReply: string;
  optOutReply: string;
  optInReply: string;
}

// Twilio's default opt-out/opt-in/help keywords, plus their French counterparts.
export const DEFAULT_OPT_OUT_KEYWORDS = 'STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,REVOKE,OPTOUT,ARRET,ARRÊT,STOP SMS,DESABONNER,DÉSABONNER';
export const DEFAULT_OPT_IN_KEYWORDS = 'START,UNSTOP,YES,OUI,DEMARRER,DÉMARRER,REPRENDRE';
export const DEFAULT_HELP_KEYWORDS = 'HELP,INFO,AIDE';
export const DEFAULT_HELP_REPLY =
  'Messages de votre prise de rendez-vous. Répondez STOP pour ne plus recevoir de SMS, START pour les recevoir à nouveau.';
export const DEFAULT_OPT_OUT_REPLY = 'Vous ne recevrez plus de SMS de notre part. Répondez START pour vous réabonner.';
export const DEFAULT_OPT_IN_REPLY = 'Vous recevrez à nouveau nos SMS. Répondez STOP pour vous désabonner.';

/**
 * `" Arrêt "` → `"ARRET"`, `«\u202fStop\u202f»` → `"STOP"`, `"ＳＴＯＰ"` → `"STOP"`: compatibility forms
 * folded (full-width letters of Asian keyboards, ligatures), upper case, accents and invisible characters
 * (zero-width, direction marks, soft hyphen, emoji joiners and variation selectors) removed, spaces of any
 * kind collapsed, punctuation around the words dropped (typographic quotes and dashes too); punctuation
 * inside stays.
 */
export function foldKeyword(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\p{M}\p{Cf}]+/gu, '')
    .toUpperCase()
    .replace(/\s+/gu, ' ')
    .replace(/^[\s\p{P}]+|[\s\p{P}]+$/gu, '');
}

function parseKeywords(list: string): string[] {
  return [...new Set(list.split(',').map(foldKeyword).filter(Boolean))];
}

/** argon2's own defaults (64 MiB, 3 passes): above OWASP's floor for argon2id (19 MiB, 2 passes). */
export const DEFAULT_PASSWORD_HASH = { memoryKib: 65_536, iterations: 3 } as const;

/** A PostgreSQL query unanswered this long fails and its connection is closed (DATABASE_QUERY_TIMEOUT_MS). */
export const DEFAULT_DATABASE_QUERY_TIMEOUT_MS = 30_000;

function parseDatabaseUrl(url: string, queryTimeoutMs: number): DatabaseConfig {
  if (url.startsWith('sqlite:')) return { type: 'sqlite', path: url.slice('sqlite:'.length) };
  return { type: 'postgres', url, queryTimeoutMs };
}

function parseQuietHours(text: string): QuietHours | null {
  if (!text) return null;
  const [start, end] = text.split('-').map((part) => {
    const [h, m] = part.split(':').map(Number);
    return h * 60 + m;
  });
  return start === end ? null : { startMinute: start, endMinute: end, text };
}

/**
 * The service's configuration, validated once at boot and read everywhere through this class.
 * Nothing outside src/config reads process.env.
 */
export class AppConfig {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly isProduction: boolean;
  readonly port: number;
  /** The address the HTTP server listens on (HOST). */
  readonly host: string;
  readonly logLevel: EnvironmentVariables['LOG_LEVEL'] & string;
  readonly database: DatabaseConfig;
  readonly databaseUrl: string;
  readonly jwt: { secret: string; secretGenerated: boolean; expiresInSeconds: number };
  readonly admin: { email?: string; password?: string };
  readonly twilio: {
    accountSid?: string;
    authToken?: string;
    phoneNumber?: string;
    messagingServiceSid?: string;
    apiBaseUrl: string;
    timeoutMs: number;
  };
  readonly sms: {
    provider: 'twilio' | 'dry-run';
    providerExplicit: boolean;
    bulkMaxRecipients: number;
    /** SMS_ALLOWED_COUNTRIES: the countries SMS may go to (ISO codes); null: every one. */
    allowedCountries: readonly string[] | null;
  };
  /** The outbox dispatcher (src/sms/dispatch): limits toward Twilio, retries, leases, waits. */
  readonly dispatch: {
    sendWaitMs: number;
    maxConcurrency: number;
    maxPerSecond: number;
    maxAttempts: number;
    retryBaseMs: number;
    retryMaxMs: number;
    leaseMs: number;
    pollIntervalMs: number;
    queueName: string;
    /** SMS_CIRCUIT_RESET_MS: calls to the provider stop this long once it looks down (ProviderCircuit); 0: never. */
    circuitResetMs: number;
    /** SMS_OUTAGE_RETRY_MS: past its attempts, a message keeps being retried through a provider outage this long after its first; 0: never. */
    outageRetryMs: number;
  };
  readonly publicBaseUrl?: string;
  readonly defaultCountry: string;
  readonly defaultTimeZone: string;
  readonly redisUrl?: string;
  /** Prepended to every key this service writes in Redis, so instances of one deployment share and others do not. */
  readonly redisKeyPrefix: string;
  readonly bodyLimitBytes: number;
  /** The longest a client may take to send a whole request (headers and body); past it, 408 and the connection closed. */
  readonly requestTimeoutMs: number;
  /** Bearer token that may read GET /api/metrics besides a superadmin's (a Prometheus scraper's); unset: superadmins only. */
  readonly metricsToken?: string;
  /**
   * Fastify's `trustProxy`: whether (and which) proxies' X-Forwarded-For / -Proto / -Host headers
   * are believed. Off by default: `request.ip` (sign-in throttling, the journal) is the socket's peer.
   */
  readonly trustProxy: boolean | string[];
  readonly login: {
    /** Failed sign-ins on one account (email) from one address (an IPv6 address by its /64) before 429 there. */
    maxAttemptsPerEmail: number;
    /** Failed sign-ins on one account from all addresses together before 429 from every one. */
    maxAttemptsPerAccount: number;
    maxAttemptsPerIp: number;
    windowSeconds: number;
    /** Sign-in requests per IP per minute, successful or not (0: no such limit). */
    maxPerIpPerMinute: number;
  };
  /** argon2id cost of new password hashes (a stored hash keeps the cost it was made with; verify reads it from it). */
  readonly passwordHash: { memoryKib: number; iterations: number };
  readonly events: { relayEnabled: boolean };
  readonly inbound: InboundSmsConfig;
  /** Marketing batches: when they may leave and the opt-out mention they carry. */
  readonly marketing: { hours: string; holidaysCountry: string; stopMention: string };
  readonly reminders: { enabled: boolean; leadHours: number; scanIntervalSeconds: number; quietHours: QuietHours | null };
  /** SMS a user may ask for per minute on the sending routes (a bulk counts its recipients); null: no limit. */
  readonly smsUserMaxPerMinute: number | null;
  /** Origins allowed to call the API from a browser (`['*']`: any); empty: CORS off. */
  readonly corsOrigins: string[];
  /** Swagger UI at /api/docs and the OpenAPI document at /api/docs-json (API_DOCS_ENABLED, on by default). */
  readonly apiDocsEnabled: boolean;
  /** Data retention; null: off (nothing is purged). */
  readonly retention: { days: number; intervalMinutes: number; chunkSize: number; chunkPauseMs: number } | null;
  /** RETENTION_* settings given without RETENTION_DAYS: they change nothing (said at boot). */
  readonly retentionSettingsIgnored: string[];

  constructor(env: EnvironmentVariables) {
    this.nodeEnv = env.NODE_ENV ?? 'development';
    this.isProduction = this.nodeEnv === 'production';
    this.port = env.PORT ?? 3000;
    this.host = env.HOST ?? '0.0.0.0';
    this.logLevel = env.LOG_LEVEL ?? 'log';
    this.databaseUrl = env.DATABASE_URL ?? 'sqlite:data/app.sqlite';
    this.database = parseDatabaseUrl(this.databaseUrl, env.DATABASE_QUERY_TIMEOUT_MS ?? DEFAULT_DATABASE_QUERY_TIMEOUT_MS);
    this.jwt = {
      // Outside production a random secret per run keeps `npm start` one command; tokens die with the process.
      secret: env.JWT_SECRET ?? randomBytes(48).toString('base64url'),
      secretGenerated: !env.JWT_SECRET,
      expiresInSeconds: durationToSeconds(env.JWT_EXPIRES_IN ?? '1h'),
    };
    this.admin = { email: env.ADMIN_EMAIL?.toLowerCase(), password: env.ADMIN_PASSWORD };
    this.twilio = {
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      phoneNumber: env.TWILIO_PHONE_NUMBER,
      messagingServiceSid: env.TWILIO_MESSAGING_SERVICE_SID,
      apiBaseUrl: (env.TWILIO_API_BASE_URL ?? 'https://api.twilio.com').replace(/\/+$/, ''),
      timeoutMs: env.TWILIO_TIMEOUT_MS ?? 10_000,
    };
    const hasCredentials = !!(env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN);
    this.sms = {
      provider: env.SMS_PROVIDER ?? (hasCredentials ? 'twilio' : 'dry-run'),
      providerExplicit: !!env.SMS_PROVIDER,
      bulkMaxRecipients: env.SMS_BULK_MAX_RECIPIENTS ?? 10_000,
      allowedCountries: nonEmpty(parseCountryList(env.SMS_ALLOWED_COUNTRIES)),
    };
    this.dispatch = {
      sendWaitMs: env.SMS_SEND_WAIT_MS ?? 10_000,
      maxConcurrency: env.SMS_MAX_CONCURRENCY ?? 10,
      maxPerSecond: env.SMS_MAX_PER_SECOND ?? 10,
      maxAttempts: env.SMS_MAX_ATTEMPTS ?? 5,
      retryBaseMs: env.SMS_RETRY_BASE_MS ?? 1000,
      retryMaxMs: env.SMS_RETRY_MAX_MS ?? 60_000,
      // Longer than a provider call and a look-up together, so a live worker never loses its row.
      leaseMs: env.SMS_LEASE_MS ?? Math.max(30_000, this.twilio.timeoutMs * 3),
      pollIntervalMs: env.SMS_POLL_INTERVAL_MS ?? 1000,
      queueName: env.SMS_QUEUE_NAME ?? 'sms-dispatch',
      circuitResetMs: env.SMS_CIRCUIT_RESET_MS ?? 30_000,
      outageRetryMs: env.SMS_OUTAGE_RETRY_MS ?? 3_600_000,
    };
    this.publicBaseUrl = env.PUBLIC_BASE_URL?.replace(/\/+$/, '');
    this.defaultCountry = (env.DEFAULT_COUNTRY ?? 'FR').toUpperCase();
    this.defaultTimeZone = env.DEFAULT_TIMEZONE ?? 'Europe/Paris';
    this.redisUrl = env.REDIS_URL;
    this.redisKeyPrefix = env.REDIS_KEY_PREFIX ?? 'sms-backbone:';
    this.bodyLimitBytes = env.BODY_LIMIT_BYTES ?? 1024 * 1024;
    this.requestTimeoutMs = env.HTTP_REQUEST_TIMEOUT_MS ?? 60_000;
    this.metricsToken = env.METRICS_TOKEN;
    this.trustProxy = parseTrustProxy(env.TRUST_PROXY) ?? false;
    this.login = {
      maxAttemptsPerEmail: env.LOGIN_MAX_ATTEMPTS ?? 5,
      maxAttemptsPerAccount: env.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT ?? Math.max(50, 10 * (env.LOGIN_MAX_ATTEMPTS ?? 5)),
      maxAttemptsPerIp: env.LOGIN_MAX_ATTEMPTS_PER_IP ?? 20,
      windowSeconds: env.LOGIN_WINDOW_SECONDS ?? 900,
      maxPerIpPerMinute: env.LOGIN_MAX_PER_IP_PER_MINUTE ?? 60,
    };
    this.passwordHash = {
      memoryKib: env.PASSWORD_HASH_MEMORY_KIB ?? DEFAULT_PASSWORD_HASH.memoryKib,
      iterations: env.PASSWORD_HASH_ITERATIONS ?? DEFAULT_PASSWORD_HASH.iterations,
    };
    this.events = { relayEnabled: env.EVENT_RELAY_ENABLED !== 'false' };
    this.inbound = {
      optOutKeywords: parseKeywords(env.SMS_OPT_OUT_KEYWORDS ?? DEFAULT_OPT_OUT_KEYWORDS),
      optInKeywords: parseKeywords(env.SMS_OPT_IN_KEYWORDS ?? DEFAULT_OPT_IN_KEYWORDS),
      helpKeywords: parseKeywords(env.SMS_HELP_KEYWORDS ?? DEFAULT_HELP_KEYWORDS),
      helpReply: env.SMS_HELP_REPLY ?? DEFAULT_HELP_REPLY,
      optOutReply: env.SMS_OPT_OUT_REPLY ?? DEFAULT_OPT_OUT_REPLY,
      optInReply: env.SMS_OPT_IN_REPLY ?? DEFAULT_OPT_IN_REPLY,
    };
    const lists = {
      SMS_OPT_OUT_KEYWORDS: this.inbound.optOutKeywords,
      SMS_OPT_IN_KEYWORDS: this.inbound.optInKeywords,
      SMS_HELP_KEYWORDS: this.inbound.helpKeywords,
    };
    const overlaps = Object.entries(lists).flatMap(([name, words], i) =>
      Object.entries(lists)
        .slice(i + 1)
        .flatMap(([other, others]) => words.filter((w) => others.includes(w)).map((w) => `${w} is in both ${name} and ${other}`)),
    );
    // One reply per keyword: a word in two lists would opt a number out and in at once.
    if (overlaps.length) throw new ConfigValidationError(overlaps);
    this.marketing = {
      hours: env.SMS_MARKETING_HOURS ?? 'Mon-Sat 08:00-20:00',
      holidaysCountry: (env.SMS_MARKETING_HOLIDAYS ?? 'FR').toUpperCase(),
      stopMention: env.SMS_MARKETING_STOP_MENTION ?? 'Désabonnement : répondez STOP',
    };
    this.reminders = {
      enabled: env.REMINDERS_ENABLED !== 'false',
      leadHours: env.REMINDER_LEAD_HOURS ?? 24,
      scanIntervalSeconds: env.REMINDER_SCAN_INTERVAL_SECONDS ?? 30,
      quietHours: parseQuietHours(env.QUIET_HOURS ?? '21:00-08:00'),
    };
    this.smsUserMaxPerMinute = env.SMS_USER_MAX_PER_MINUTE ? env.SMS_USER_MAX_PER_MINUTE : null;
    this.corsOrigins = parseCorsOrigins(env.CORS_ORIGINS) ?? [];
    this.apiDocsEnabled = env.API_DOCS_ENABLED !== 'false';
    this.retention = env.RETENTION_DAYS
      ? {
          days: env.RETENTION_DAYS,
          intervalMinutes: env.RETENTION_INTERVAL_MINUTES ?? 60,
          chunkSize: env.RETENTION_CHUNK_SIZE ?? 500,
          chunkPauseMs: env.RETENTION_CHUNK_PAUSE_MS ?? 100,
        }
      : null;
    this.retentionSettingsIgnored = env.RETENTION_DAYS
      ? []
      : (['RETENTION_INTERVAL_MINUTES', 'RETENTION_CHUNK_SIZE', 'RETENTION_CHUNK_PAUSE_MS'] as const).filter(
          (name) => env[name] !== undefined,
        );
  }

  /** Validates a raw environment (process.env plus test overrides) and builds the typed config. */
  static fromEnvironment(raw: Record<string, unknown>): AppConfig {
    return new AppConfig(validateEnvironment(raw));
  }
}

/** A list, or null when it is empty (a setting left empty means "no list"). */
function nonEmpty<T>(list: T[]): T[] | null {
  return list.length ? list : null;
}
