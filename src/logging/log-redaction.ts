import { maskPhone, maskPhonesInText, PHONE_KEYS, safeLogText, safeUrlForLog } from '../common/log-safe.js';

/**
 * Keys whose values are never logged at all: message bodies, credentials, tokens, cookies, and the
 * Twilio settings. A safety net: no log line of the service logs them on purpose.
 */
const SECRET_KEYS = [
  'body',
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'access_token',
  'accessToken',
  'refreshToken',
  'authorization',
  'Authorization',
  'cookie',
  'Cookie',
  'set-cookie',
  'authToken',
  'auth_token',
  'apiKey',
  'secret',
  'accountSid',
  'TWILIO_AUTH_TOKEN',
  'TWILIO_ACCOUNT_SID',
  'METRICS_TOKEN',
  'JWT_SECRET',
  'ADMIN_PASSWORD',
];

function pathsFor(keys: string[]): string[] {
  const quoted = keys.map((key) => (/^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`));
  const join = (prefix: string, key: string) => (key.startsWith('[') ? `${prefix}${key}` : `${prefix}.${key}`);
  // pino's redaction matches fixed paths: the key at the top of a log object, one and two levels down.
  return quoted.flatMap((key) => [key, join('*', key), join('*.*', key)]);
}

const PHONE_PATHS = new Set(pathsFor(PHONE_KEYS));

/**
 * pino's `redact` option: phone numbers masked, secrets and bodies replaced by `[redacted]`. An SMS text
 * logged as `message` is caught at the top of a log object only: deeper, `message` is an error's own text
 * (the `err` serializer masks it), and pino's wildcard paths cannot tell the two apart.
 */
export const LOG_REDACTION = {
  paths: [...PHONE_PATHS, ...pathsFor(SECRET_KEYS), 'message', 'sms.message', 'dto.message'],
  censor: (value: unknown, path: (string | symbol)[]): unknown => {
    const key = path[path.length - 1];
    if (typeof key === 'string' && PHONE_KEYS.includes(key) && (typeof value === 'string' || typeof value === 'number')) {
      return maskPhone(value);
    }
    return '[redacted]';
  },
};

interface RequestLike {
  method?: string;
  url?: string;
  routeOptions?: { url?: string };
}

interface ReplyLike {
  statusCode?: number;
}

/**
 * What a request is in a log line: method, the URL with numbers masked and secret query values
 * removed, and the route pattern. Never headers, cookies or body.
 */
function serializeRequest(request: RequestLike): Record<string, unknown> {
  return {
    method: request.method,
    url: request.url === undefined ? undefined : safeUrlForLog(request.url, request.routeOptions?.url),
    route: request.routeOptions?.url,
  };
}

function serializeReply(reply: ReplyLike): Record<string, unknown> {
  return { statusCode: reply.statusCode };
}

/** Text for a log line from outside (an error's message, a stack frame): escaped (safeLogText), numbers masked. */
function safeMaskedText(value: unknown, maxLength?: number): string {
  return maskPhonesInText(safeLogText(value, maxLength));
}

/**
 * An error in a log line: its type, code, status, and its message and stack with numbers masked and
 * control characters escaped. Never its other properties: an SDK error carries the request it made
 * (with the Basic auth header).
 */
function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: safeMaskedText(error) };
  const e = error as Error & { code?: unknown; status?: unknown; statusCode?: unknown };
  return {
    type: error.name,
    message: safeMaskedText(error.message),
    ...(typeof e.code === 'string' || typeof e.code === 'number' ? { code: e.code } : {}),
    ...(typeof e.status === 'number' ? { status: e.status } : typeof e.statusCode === 'number' ? { status: e.statusCode } : {}),
    stack: error.stack
      ?.split('\n')
      .filter((line) => /^\s+at /.test(line))
      .map((line) => safeMaskedText(line.trim()))
      .join('\n'),
  };
}

export const LOG_SERIALIZERS = { req: serializeRequest, res: serializeReply, err: serializeError, error: serializeError };

/**
 * An error's message for a line written without the logger (main.ts: a failed start, before the logger may exist, or
 * a failed shutdown, after it closed): masked and escaped as the `err` serializer does, so a number in a driver's or
 * SDK's text is not printed in clear, nor a line break forges another line. Not clipped: it is the last line the
 * process prints. (A configuration error is printed as written instead: its texts are ours, see main.ts.)
 */
export function safeErrorText(error: unknown): string {
  return safeMaskedText(error instanceof Error ? error.message : error, Infinity);
}

/**
 * Masks phone numbers in every string argument of a log call (the message and its interpolations). An error logged
 * without a message (`logger.error(err)`, `logger.error({ err })`) gets its masked text as one: pino would otherwise
 * take its raw text for the line's `msg`, after this hook. A `context` holding digits (Nest's `Logger.error(message,
 * stack)` without a context puts the stack there) is masked too.
 */
export function maskLogArguments(args: unknown[]): unknown[] {
  const masked = args.map((arg) => (typeof arg === 'string' ? maskPhonesInText(arg) : arg));
  const [first] = masked;
  if (typeof first !== 'object' || first === null) return masked;
  const fields = first as { err?: unknown; error?: unknown; context?: unknown };
  const error = first instanceof Error ? first : (fields.err ?? fields.error);
  if (error instanceof Error && typeof masked[1] !== 'string') masked.splice(1, 0, safeMaskedText(error.message));
  if (!(first instanceof Error) && typeof fields.context === 'string' && /\d/.test(fields.context))
    masked[0] = { ...first, context: safeMaskedText(fields.context) };
  return masked;
}
