import { AppConfig } from './app-config.js';
import { ConfigValidationError, validateEnvironment } from './env.validation.js';

const SID = 'AC' + 'a'.repeat(32);
const problemsOf = (env: Record<string, string>): string[] => {
  try {
    validateEnvironment(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.problems;
    throw error;
  }
};

describe(validateEnvironment.name, () => {
  it('accepts an empty environment (the embedded default)', () => {
    expect(problemsOf({})).toEqual([]);
  });

  it('accepts the edges: token lifetimes of 1m and 365d, marketing hours up to 24:00, any country date-holidays knows', () => {
    expect(problemsOf({ JWT_EXPIRES_IN: '1m' })).toEqual([]);
    expect(problemsOf({ JWT_EXPIRES_IN: '365d' })).toEqual([]);
    expect(problemsOf({ JWT_EXPIRES_IN: '60' })).toEqual([]);
    expect(problemsOf({ SMS_MARKETING_HOURS: 'Mon-Sun 08:00-24:00' })).toEqual([]);
    expect(problemsOf({ SMS_MARKETING_HOLIDAYS: 'de' })).toEqual([]);
    expect(problemsOf({ SMS_MARKETING_HOLIDAYS: '' })).toEqual([]);
    expect(problemsOf({ SMS_LEASE_MS: '10001' })).toEqual([]);
    expect(problemsOf({ SMS_LEASE_MS: '2000', TWILIO_TIMEOUT_MS: '1500' })).toEqual([]);
    expect(problemsOf({ ADMIN_PASSWORD: 'p'.repeat(256) })).toEqual([]);
    expect(problemsOf({ ADMIN_PASSWORD: 'p'.repeat(12) })).toEqual([]);
  });

  it('takes ADMIN_PASSWORD without its surrounding spaces (a stray space, a Windows line end), inner spaces kept; blank is unset', () => {
    expect(AppConfig.fromEnvironment({ ADMIN_PASSWORD: 'correct horse battery' }).admin.password).toBe('correct horse battery');
    expect(AppConfig.fromEnvironment({ ADMIN_PASSWORD: ' correct-horse-battery\r' }).admin.password).toBe('correct-horse-battery');
    expect(AppConfig.fromEnvironment({ ADMIN_PASSWORD: '   ' }).admin.password).toBeUndefined();
    // The length is the trimmed one's: 12 characters with spaces around them are enough, 11 are not.
    expect(problemsOf({ ADMIN_PASSWORD: `  ${'p'.repeat(12)}  ` })).toEqual([]);
    expect(problemsOf({ ADMIN_PASSWORD: `  ${'p'.repeat(11)}  ` })).toEqual([expect.stringMatching(/ADMIN_PASSWORD must be at least 12/)]);
  });

  it.each([
    ['PORT', 'abc', /PORT/],
    ['DATABASE_QUERY_TIMEOUT_MS', '-1', /DATABASE_QUERY_TIMEOUT_MS/],
    ['DATABASE_QUERY_TIMEOUT_MS', '30s', /DATABASE_QUERY_TIMEOUT_MS/],
    ['PORT', '70000', /PORT/],
    ['NODE_ENV', 'staging', /NODE_ENV/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL must be sqlite/],
    ['JWT_SECRET', 'short', /JWT_SECRET must be at least 32/],
    ['JWT_EXPIRES_IN', 'forever', /JWT_EXPIRES_IN must be a duration/],
    ['JWT_EXPIRES_IN', '0', /^JWT_EXPIRES_IN must be between 1m and 365d \(got 0\)$/],
    ['JWT_EXPIRES_IN', '500ms', /^JWT_EXPIRES_IN must be between 1m and 365d/],
    ['JWT_EXPIRES_IN', '999999999999999d', /^JWT_EXPIRES_IN must be between 1m and 365d/],
    ['SMS_MARKETING_HOURS', 'Mon-Sat 08:00-24:30', /^SMS_MARKETING_HOURS must end after it starts, within one day, at 24:00 at the latest/],
    ['QUIET_HOURS', '08:00-08:00', /^QUIET_HOURS must start and end at different times/],
    [
      'SMS_MARKETING_HOLIDAYS',
      'XX',
      /^SMS_MARKETING_HOLIDAYS must be a country whose public holidays date-holidays knows .*XX is not one$/,
    ],
    ['ADMIN_EMAIL', 'nope', /ADMIN_EMAIL must be an email/],
    ['ADMIN_PASSWORD', 'short', /ADMIN_PASSWORD must be at least 12/],
    ['ADMIN_PASSWORD', 'p'.repeat(257), /^ADMIN_PASSWORD must be at most 256 characters long \(the longest password sign-in accepts\)$/],
    ['ADMIN_PASSWORD', '\u{1F511}'.repeat(129), /^ADMIN_PASSWORD must be at most 256 characters/],
    ['TWILIO_ACCOUNT_SID', 'AC123', /TWILIO_ACCOUNT_SID must be "AC" followed by 32/],
    ['TWILIO_PHONE_NUMBER', '0612345678', /TWILIO_PHONE_NUMBER must be an E.164/],
    ['TWILIO_PHONE_NUMBER', 'CABINETMARTIN', /TWILIO_PHONE_NUMBER must be an E.164/],
    ['TWILIO_PHONE_NUMBER', '+33612345678x', /TWILIO_PHONE_NUMBER must be an E.164/],
    ['TWILIO_MESSAGING_SERVICE_SID', 'MG1', /TWILIO_MESSAGING_SERVICE_SID/],
    ['TWILIO_API_BASE_URL', 'not a url', /TWILIO_API_BASE_URL must be an http/],
    ['SMS_PROVIDER', 'carrier-pigeon', /SMS_PROVIDER/],
    ['PUBLIC_BASE_URL', 'ftp://x', /PUBLIC_BASE_URL/],
    ['DEFAULT_COUNTRY', 'France', /DEFAULT_COUNTRY must be a two-letter/],
    ['DEFAULT_TIMEZONE', 'Mars/Olympus', /DEFAULT_TIMEZONE must be an IANA/],
    ['DEFAULT_TIMEZONE', '+05:00', /DEFAULT_TIMEZONE must be an IANA/],
    ['DEFAULT_TIMEZONE', 'UTC+5', /DEFAULT_TIMEZONE must be an IANA/],
    ['REDIS_URL', 'localhost:6379', /REDIS_URL must be a redis/],
    ['REDIS_KEY_PREFIX', 'has spaces', /REDIS_KEY_PREFIX must be 1 to 64/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
    ['QUIET_HOURS', '9pm-8am', /QUIET_HOURS must be HH:MM-HH:MM/],
    ['REMINDER_LEAD_HOURS', '0', /REMINDER_LEAD_HOURS/],
    ['TRUST_PROXY', 'yes', /TRUST_PROXY must be true, false, or a comma-separated list/],
    ['API_DOCS_ENABLED', 'off', /^API_DOCS_ENABLED must be true or false$/],
    ['TRUST_PROXY', '10.0.0.0/33', /TRUST_PROXY must be/],
    ['TRUST_PROXY', '10.0.0.1,proxy.internal', /TRUST_PROXY must be/],
    ['TRUST_PROXY', '2', /TRUST_PROXY cannot be a hop count/],
    ['SMS_USER_MAX_PER_MINUTE', '-1', /SMS_USER_MAX_PER_MINUTE/],
    ['SMS_USER_MAX_PER_MINUTE', 'lots', /^SMS_USER_MAX_PER_MINUTE must be an integer number$/],
    ['SMS_CIRCUIT_RESET_MS', '500', /^SMS_CIRCUIT_RESET_MS must be 0 \(no circuit\) or at least 1000 ms \(got 500\)$/],
    ['SMS_CIRCUIT_RESET_MS', '-1', /^SMS_CIRCUIT_RESET_MS must not be less than 0$/],
    ['SMS_CIRCUIT_RESET_MS', 'soon', /^SMS_CIRCUIT_RESET_MS must be an integer number$/],
    ['SMS_OUTAGE_RETRY_MS', '-1', /^SMS_OUTAGE_RETRY_MS must not be less than 0$/],
    ['SMS_OUTAGE_RETRY_MS', '604800001', /^SMS_OUTAGE_RETRY_MS must not be greater than 604800000$/],
    ['SMS_LEASE_MS', '10000', /^SMS_LEASE_MS must be longer than TWILIO_TIMEOUT_MS \(10000 ms\): .*\(got 10000\)$/],
    ['PORT', 'abc', /^PORT must be an integer number$/],
    ['HOST', 'example.com', /^HOST must be an IP address \(0\.0\.0\.0, ::, 127\.0\.0\.1, ::1…\) or localhost$/],
    ['HOST', '127.0.0.1:3000', /^HOST must be an IP address/],
    ['DEFAULT_COUNTRY', 'XX', /^DEFAULT_COUNTRY must be a country with phone numbers .*XX is not one$/],
    ['PORT', '70000', /^PORT must not be greater than 65535$/],
    [
      'LOGIN_MAX_ATTEMPTS_PER_ACCOUNT',
      '3',
      /^LOGIN_MAX_ATTEMPTS_PER_ACCOUNT \(failures from all addresses\) must be at least LOGIN_MAX_ATTEMPTS \(from one address, 5\); got 3$/,
    ],
    ['SMS_ALLOWED_COUNTRIES', 'FR,XX', /^SMS_ALLOWED_COUNTRIES must list two-letter country codes .*: XX is not one$/],
    ['SMS_ALLOWED_COUNTRIES', 'France', /^SMS_ALLOWED_COUNTRIES must list .*: FRANCE is not one$/],
    ['CORS_ORIGINS', 'app.example.com', /CORS_ORIGINS must be \* or a comma-separated list of origins/],
    ['CORS_ORIGINS', 'https://app.example.com/path', /CORS_ORIGINS must be/],
    ['CORS_ORIGINS', 'https://a.example.com,*', /CORS_ORIGINS must be/],
    ['CORS_ORIGINS', 'ftp://files.example.com', /CORS_ORIGINS must be/],
    ['RETENTION_DAYS', '0', /RETENTION_DAYS/],
    ['RETENTION_INTERVAL_MINUTES', '0', /RETENTION_INTERVAL_MINUTES/],
    ['RETENTION_CHUNK_SIZE', '100000', /RETENTION_CHUNK_SIZE/],
    ['RETENTION_CHUNK_PAUSE_MS', '-5', /RETENTION_CHUNK_PAUSE_MS/],
    ['PASSWORD_HASH_MEMORY_KIB', '32', /^PASSWORD_HASH_MEMORY_KIB must not be less than 64$/],
    ['PASSWORD_HASH_MEMORY_KIB', '64MiB', /^PASSWORD_HASH_MEMORY_KIB must be an integer number$/],
    ['PASSWORD_HASH_ITERATIONS', '0', /^PASSWORD_HASH_ITERATIONS must not be less than 1$/],
    ['PASSWORD_HASH_ITERATIONS', '21', /^PASSWORD_HASH_ITERATIONS must not be greater than 20$/],
  ])('refuses %s=%s with one line naming it', (name, value, pattern) => {
    // Twilio variables come as a set, so give the rest of the set to isolate the one under test.
    const twilioSet: Record<string, string> = name.startsWith('TWILIO_')
      ? { TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'token-123456', TWILIO_PHONE_NUMBER: '+33612345678' }
      : {};
    const problems = problemsOf({ ...twilioSet, [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(pattern);
  });

  it('requires the JWT secret and the first admin in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production', SMS_PROVIDER: 'dry-run' });
    expect(problems).toEqual([
      expect.stringMatching(/JWT_SECRET is required in production/),
      expect.stringMatching(/ADMIN_EMAIL is required/),
      expect.stringMatching(/ADMIN_PASSWORD is required/),
    ]);
  });

  it('requires an https Twilio base URL in production (http only to this machine)', () => {
    const production = {
      NODE_ENV: 'production',
      SMS_PROVIDER: 'dry-run',
      JWT_SECRET: 'x'.repeat(40),
      ADMIN_EMAIL: 'ops@example.fr',
      ADMIN_PASSWORD: 'a-long-enough-password',
    };
    expect(problemsOf({ ...production, TWILIO_API_BASE_URL: 'http://twilio-relay.internal:8080' })).toEqual([
      'TWILIO_API_BASE_URL must be https in production (http sends the Twilio credentials in clear), but on this machine',
    ]);
    expect(problemsOf({ ...production, TWILIO_API_BASE_URL: 'https://twilio-relay.internal' })).toEqual([]);
    expect(problemsOf({ ...production, TWILIO_API_BASE_URL: 'http://127.0.0.1:4010' })).toEqual([]);
    expect(problemsOf({ TWILIO_API_BASE_URL: 'http://twilio-relay.internal:8080' })).toEqual([]);
  });

  it('requires Twilio credentials in production unless dry-run is explicit', () => {
    const base = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), ADMIN_EMAIL: 'a@b.c', ADMIN_PASSWORD: 'p'.repeat(12) };
    expect(problemsOf(base)).toEqual([expect.stringMatching(/TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required in production/)]);
    expect(problemsOf({ ...base, SMS_PROVIDER: 'dry-run' })).toEqual([]);
  });

  it.each(['+33612345678', 'Cabinet', 'DR MARTIN 2'])('accepts TWILIO_PHONE_NUMBER=%s (a number or an alphanumeric sender ID)', (value) => {
    expect(problemsOf({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'token-123456', TWILIO_PHONE_NUMBER: value })).toEqual([]);
  });

  it('wants the SID and token together, and a sender with them', () => {
    expect(problemsOf({ TWILIO_ACCOUNT_SID: SID })).toEqual([expect.stringMatching(/must be set together/)]);
    expect(problemsOf({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'token-123456' })).toEqual([
      expect.stringMatching(/TWILIO_PHONE_NUMBER or TWILIO_MESSAGING_SERVICE_SID/),
    ]);
    expect(problemsOf({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'token-123456', TWILIO_PHONE_NUMBER: 'Cabinet' })).toEqual([]);
  });

  it('treats empty values as unset', () => {
    expect(problemsOf({ PORT: '', TWILIO_ACCOUNT_SID: '', QUIET_HOURS: '' })).toEqual([]);
  });
});

describe(AppConfig.name, () => {
  it('refuses a keyword in two lists, once folded (it would get two replies)', () => {
    expect(() => AppConfig.fromEnvironment({ SMS_OPT_OUT_KEYWORDS: 'STOP,Arrêt', SMS_OPT_IN_KEYWORDS: 'START,ARRET' })).toThrow(
      'Invalid configuration: ARRET is in both SMS_OPT_OUT_KEYWORDS and SMS_OPT_IN_KEYWORDS',
    );
    expect(() => AppConfig.fromEnvironment({ SMS_HELP_KEYWORDS: 'AIDE,stop' })).toThrow(
      /STOP is in both SMS_OPT_OUT_KEYWORDS and SMS_HELP_KEYWORDS/,
    );
  });

  it('applies the documented defaults', () => {
    const sut = AppConfig.fromEnvironment({});
    expect(sut.port).toBe(3000);
    expect(sut.host).toBe('0.0.0.0');
    expect(AppConfig.fromEnvironment({ HOST: 'localhost' }).host).toBe('localhost');
    expect(AppConfig.fromEnvironment({ HOST: ' ::1 ' }).host).toBe('::1');
    expect(sut.database).toEqual({ type: 'sqlite', path: 'data/app.sqlite' });
    expect(sut.jwt.secretGenerated).toBe(true);
    expect(sut.jwt.secret.length).toBeGreaterThanOrEqual(32);
    expect(sut.jwt.expiresInSeconds).toBe(3600);
    expect(sut.sms.provider).toBe('dry-run');
    expect(sut.defaultCountry).toBe('FR');
    expect(sut.defaultTimeZone).toBe('Europe/Paris');
    expect(sut.twilio.apiBaseUrl).toBe('https://api.twilio.com');
    expect(sut.reminders).toEqual({
      enabled: true,
      leadHours: 24,
      scanIntervalSeconds: 30,
      quietHours: { startMinute: 21 * 60, endMinute: 8 * 60, text: '21:00-08:00' },
    });
    // Limits and retention are off until configured.
    expect(sut.smsUserMaxPerMinute).toBeNull();
    expect(sut.sms.allowedCountries).toBeNull();
    expect(sut.login).toMatchObject({ maxAttemptsPerEmail: 5, maxAttemptsPerAccount: 50, maxAttemptsPerIp: 20 });
    // Ten addresses' worth of LOGIN_MAX_ATTEMPTS at least, when only that is raised.
    expect(AppConfig.fromEnvironment({ LOGIN_MAX_ATTEMPTS: '20' }).login.maxAttemptsPerAccount).toBe(200);
    expect(sut.corsOrigins).toEqual([]);
    expect(sut.retention).toBeNull();
    // The circuit in front of Twilio is on: 30 s without calls once it looks down.
    expect(sut.dispatch.circuitResetMs).toBe(30_000);
    expect(AppConfig.fromEnvironment({ SMS_CIRCUIT_RESET_MS: '0' }).dispatch.circuitResetMs).toBe(0);
    // A message whose attempts are used up while Twilio is down is retried for an hour from its first attempt.
    expect(sut.dispatch.outageRetryMs).toBe(3_600_000);
    expect(AppConfig.fromEnvironment({ SMS_OUTAGE_RETRY_MS: '0' }).dispatch.outageRetryMs).toBe(0);
    // Passwords: argon2id at argon2's own cost (64 MiB, 3 passes) unless told otherwise.
    expect(sut.passwordHash).toEqual({ memoryKib: 65_536, iterations: 3 });
    expect(AppConfig.fromEnvironment({ PASSWORD_HASH_MEMORY_KIB: '19456', PASSWORD_HASH_ITERATIONS: '2' }).passwordHash).toEqual({
      memoryKib: 19_456,
      iterations: 2,
    });
  });

  it('reads the limits and retention settings', () => {
    const sut = AppConfig.fromEnvironment({
      SMS_USER_MAX_PER_MINUTE: '30',
      CORS_ORIGINS: ' https://App.example.com , http://localhost:5173/ ',
      RETENTION_DAYS: '365',
    });
    expect(sut.smsUserMaxPerMinute).toBe(30);
    expect(AppConfig.fromEnvironment({ SMS_ALLOWED_COUNTRIES: ' fr, re ,FR,gp ' }).sms.allowedCountries).toEqual(['FR', 'RE', 'GP']);
    expect(AppConfig.fromEnvironment({ SMS_ALLOWED_COUNTRIES: ' ' }).sms.allowedCountries).toBeNull();
    expect(sut.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(sut.retention).toEqual({ days: 365, intervalMinutes: 60, chunkSize: 500, chunkPauseMs: 100 });
    expect(AppConfig.fromEnvironment({ CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
    expect(AppConfig.fromEnvironment({ SMS_USER_MAX_PER_MINUTE: '0' }).smsUserMaxPerMinute).toBeNull();
    expect(
      AppConfig.fromEnvironment({
        RETENTION_DAYS: '30',
        RETENTION_INTERVAL_MINUTES: '15',
        RETENTION_CHUNK_SIZE: '1000',
        RETENTION_CHUNK_PAUSE_MS: '0',
      }).retention,
    ).toEqual({ days: 30, intervalMinutes: 15, chunkSize: 1000, chunkPauseMs: 0 });
  });

  it('picks Twilio when credentials are set, and parses PostgreSQL URLs and durations', () => {
    const sut = AppConfig.fromEnvironment({
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: 'token-123456',
      TWILIO_PHONE_NUMBER: '+33612345678',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      JWT_EXPIRES_IN: '15m',
      QUIET_HOURS: '',
    });
    expect(sut.sms.provider).toBe('twilio');
    expect(sut.database).toEqual({ type: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test', queryTimeoutMs: 30_000 });
    const unbounded = AppConfig.fromEnvironment({ DATABASE_URL: 'postgres://db/app', DATABASE_QUERY_TIMEOUT_MS: '0' });
    expect(unbounded.database).toEqual({ type: 'postgres', url: 'postgres://db/app', queryTimeoutMs: 0 });
    expect(sut.jwt.expiresInSeconds).toBe(900);
    expect(sut.reminders.quietHours).toBeNull();
  });

  it.each([
    [undefined, false],
    ['', false],
    ['false', false],
    ['TRUE', true],
    ['10.0.0.1', ['10.0.0.1']],
    [' 10.0.0.0/8, ::1 ,fd00::/8,loopback', ['10.0.0.0/8', '::1', 'fd00::/8', 'loopback']],
  ])('reads TRUST_PROXY=%s as Fastify trustProxy %j (off by default)', (value, expected) => {
    expect(AppConfig.fromEnvironment(value === undefined ? {} : { TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });
});
