import http from 'node:http';
import twilio from 'twilio';
import type { ProviderFailure } from '../providers/sms-provider.js';
// Type-only deep imports (erased at runtime): the index re-exports the class
// but not its RequestOptions / Response types.
import type SdkRequestClient from 'twilio/lib/base/RequestClient.js';
import type * as SdkResponse from 'twilio/lib/http/response.js';

/**
 * Builds the official Twilio SDK client, optionally pointed at another base
 * URL (the loopback stand-in in tests, a recording proxy, ...), and turns what
 * the SDK throws into a small, serialisable failure description.
 *
 * twilio v6 hard-codes `https://api.twilio.com` in its domain objects; the only
 * supported seam is the `httpClient` option, so the redirection happens in a
 * `RequestClient` subclass that rewrites the URI just before the request leaves.
 */

/** Where the SDK sends Messages API calls when nothing else is configured. */
export const TWILIO_API_BASE_URL = 'https://api.twilio.com';

const DEFAULT_TIMEOUT_MS = 10_000;

export interface TwilioClientOptions {
  accountSid: string;
  authToken: string;
  /** Origin (optionally with a path prefix) replacing https://api.twilio.com. */
  baseUrl?: string;
  /** Per-request timeout, also used as the agent's socket idle timeout. */
  timeoutMs?: number;
  /** Connections kept open to Twilio (default 20); at least the requests allowed in flight at once. */
  poolSize?: number;
  /** Told about every API call once it ends (metrics): never the request or the answer itself. */
  observer?: (call: TwilioCallObservation) => void;
}

/** One call to Twilio's API, as the observer sees it. */
export interface TwilioCallObservation {
  /** `POST Messages`, `GET Messages`, `GET Message`… (the resource, never an id or a number). */
  operation: string;
  durationMs: number;
  /** Set when the call failed: Twilio's error code, else the HTTP status, `timeout` or `network`. */
  errorCode?: string;
}

/** `POST /2010-04-01/Accounts/AC…/Messages.json` → `POST Messages`; `/Messages/SM….json` → `GET Message`. */
export function twilioOperation(method: string, uri: string): string {
  const path = uri.replace(/^[a-z]+:\/\/[^/]+/i, '').split('?')[0];
  const parts = path.split('/').filter(Boolean);
  const last = (parts[parts.length - 1] ?? '').replace(/\.json$/, '');
  const resource = /^[A-Z]{2}[0-9a-f]{32}$/.test(last) ? `${parts[parts.length - 2] ?? ''}`.replace(/s$/, '') : last;
  return `${method.toUpperCase()} ${resource || 'unknown'}`;
}

function errorCodeOf(statusCode: number, body: unknown): string {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
  }
  const code = (parsed as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' || (typeof code === 'string' && /^\d+$/.test(code)) ? String(code) : `http_${statusCode}`;
}

/** The SDK's legacy error class (`twilio.RestException`), with what we may attach. */
export type TwilioRestException = InstanceType<typeof twilio.RestException> & {
  /** Parsed `Retry-After` of the error response, set by our request client. */
  retryAfterSeconds?: number;
};

/**
 * The SDK builds hostnames as api[.edge][.region].twilio.com (TWILIO_EDGE and
 * TWILIO_REGION are read from process.env even when not passed), so the
 * rewrite accepts those variants, not only the bare api.twilio.com.
 */
const TWILIO_API_ORIGIN = /^https:\/\/api(?:\.[a-z0-9-]+)*\.twilio\.com(?::443)?(?=\/|\?|$)/i;

/** Replaces the Twilio API origin of `uri` by `baseUrl`; other URIs pass through. */
export function rewriteTwilioUri(uri: string, baseUrl: string): string {
  return uri.replace(TWILIO_API_ORIGIN, () => baseUrl.replace(/\/+$/, ''));
}

/** Seconds from a Retry-After header: delta-seconds or an HTTP-date. */
function parseRetryAfter(value: unknown): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (typeof raw !== 'string' && typeof raw !== 'number') return undefined;
  const text = String(raw).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function headerValue(headers: unknown, name: string): unknown {
  if (!headers || typeof headers !== 'object') return undefined;
  // axios hands over an AxiosHeaders instance (case-insensitive `get`) or a plain object.
  const maybeGet = (headers as { get?: (n: string) => unknown }).get;
  if (typeof maybeGet === 'function') return maybeGet.call(headers, name);
  const entry = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  return entry?.[1];
}

function isRfc9457Body(body: unknown): boolean {
  if (typeof body === 'string') {
    try {
      return isRfc9457Body(JSON.parse(body));
    } catch {
      return false;
    }
  }
  const b = body as Record<string, unknown> | null;
  return (
    !!b &&
    typeof b === 'object' &&
    typeof b.type === 'string' &&
    typeof b.title === 'string' &&
    typeof b.status === 'number' &&
    typeof b.code === 'number'
  );
}

class BaseUrlRequestClient extends twilio.RequestClient {
  private readonly baseUrl: string | undefined;
  private readonly observer: TwilioClientOptions['observer'];

  constructor(baseUrl: string | undefined, opts: SdkRequestClient.RequestClientOptions, observer?: TwilioClientOptions['observer']) {
    super(opts);
    this.baseUrl = baseUrl;
    this.observer = observer;
    // RequestClient only configures an https.Agent (httpsAgent); a plain-http
    // base URL would otherwise fall back to Node's global agent and lose the
    // socket timeout and pool limits.
    if (baseUrl?.startsWith('http:')) {
      this.axios.defaults.httpAgent = new http.Agent({
        keepAlive: opts.keepAlive !== false,
        timeout: opts.timeout,
        maxSockets: opts.maxSockets ?? 20,
        maxFreeSockets: opts.maxFreeSockets ?? 5,
      });
    }
  }

  override async request<TData>(opts: SdkRequestClient.RequestOptions<TData>): Promise<SdkResponse.default<TData>> {
    if (!this.observer) return this.send(opts);
    const started = performance.now();
    const operation = twilioOperation(opts.method, opts.uri);
    try {
      const response = await this.send(opts);
      const errorCode = response.statusCode >= 400 ? errorCodeOf(response.statusCode, response.body) : undefined;
      this.observer({ operation, durationMs: performance.now() - started, errorCode });
      return response;
    } catch (error) {
      const failure = toTwilioFailure(error);
      const errorCode =
        failure.kind === 'rejected' ? (failure.code !== undefined ? String(failure.code) : `http_${failure.status}`) : failure.kind;
      this.observer({ operation, durationMs: performance.now() - started, errorCode });
      throw error;
    }
  }

  private async send<TData>(opts: SdkRequestClient.RequestOptions<TData>): Promise<SdkResponse.default<TData>> {
    const uri = this.baseUrl ? rewriteTwilioUri(opts.uri, this.baseUrl) : opts.uri;
    const response = await super.request<TData>({ ...opts, uri });
    // The SDK turns an error response into a RestException built from status
    // and body only, so the Retry-After header is lost. When there is one, we
    // raise the very same exception one step earlier with the value attached.
    // RFC 9457 bodies are left to the SDK (it throws TwilioServiceException).
    const retryAfter = headerValue(response.headers, 'retry-after');
    if (response.statusCode >= 400 && retryAfter !== undefined && !isRfc9457Body(response.body)) {
      const error: TwilioRestException = new twilio.RestException(response);
      error.retryAfterSeconds = parseRetryAfter(retryAfter);
      throw error;
    }
    return response;
  }
}

/** The SDK client; requests go to `baseUrl` (default: Twilio itself). */
/** Connections kept to Twilio per process, unless more requests may be in flight at once. */
const POOL_SIZE = 20;

export function createTwilioClient(options: TwilioClientOptions): twilio.Twilio {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // Twilio's own base URL means no rewrite at all, which keeps TWILIO_EDGE / TWILIO_REGION routing intact.
  const custom = options.baseUrl?.replace(/\/+$/, '');
  const baseUrl = custom && custom !== TWILIO_API_BASE_URL ? custom : undefined;
  // Keep every pooled connection open between bursts: with the SDK's default of 5 idle sockets out
  // of 20, each burst of sends re-opens connections (a TLS handshake each, against Twilio).
  // autoRetry stays off (explicitly): the dispatcher owns retries, and a blind resend could send twice.
  const httpClient = new BaseUrlRequestClient(
    baseUrl,
    {
      timeout,
      keepAlive: true,
      maxSockets: options.poolSize ?? POOL_SIZE,
      maxFreeSockets: options.poolSize ?? POOL_SIZE,
      autoRetry: false,
    },
    options.observer,
  );
  return new twilio.Twilio(options.accountSid, options.authToken, {
    httpClient,
    timeout,
    keepAlive: true,
  });
}

/** True for the SDK's RestException (also across duplicate copies of the package). */
export function isTwilioRestException(err: unknown): err is TwilioRestException {
  if (err instanceof twilio.RestException) return true;
  return err instanceof Error && err.constructor?.name === 'RestException' && typeof (err as { status?: unknown }).status === 'number';
}

/** The SDK's RFC 9457 error (not exported from the package index). */
function isTwilioServiceException(
  err: unknown,
): err is Error & { status: number; code: number; title: string; type: string; detail?: string } {
  const e = err as Record<string, unknown>;
  return (
    err instanceof Error &&
    typeof e.status === 'number' &&
    typeof e.code === 'number' &&
    typeof e.title === 'string' &&
    typeof e.type === 'string'
  );
}

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);
/** Failures before any byte of the request left: nothing can have been sent. */
const NEVER_REACHED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * Belt and braces: transport messages should not carry credentials, but never let them. The Account SID
 * goes too: Twilio's own texts name it in resource paths (20404 `The requested resource
 * /2010-04-01/Accounts/AC…/Messages.json was not found`), and these messages reach the logs, the stored
 * errorMessage and API answers.
 */
function redact(message: string): string {
  return message
    .replace(/(Basic|Bearer)\s+[A-Za-z0-9+/=._-]+/gi, '$1 [redacted]')
    .replace(/\/\/[^/\s:@]+:[^/\s@]+@/g, '//[redacted]@')
    .replace(/\bAC[0-9a-fA-F]{32}\b/g, 'AC[redacted]');
}

/**
 * Classifies anything thrown by an SDK call:
 * - `rejected`: Twilio answered with an error (status, Twilio code, docs link, Retry-After);
 * - `timeout`: no answer within the timeout (the request may still have been processed by Twilio: a
 *   POST that timed out is not proof of non-delivery);
 * - `network`: the connection was never made (refused, DNS, unreachable): nothing was sent;
 * - `lost`: any other failure before an answer (reset, socket hang up…), or an error we cannot
 *   attribute: the request may have reached Twilio.
 */
export function toTwilioFailure(err: unknown): ProviderFailure {
  if (isTwilioRestException(err)) {
    return {
      kind: 'rejected',
      code: err.code,
      status: err.status,
      message: redact(err.message || `HTTP ${err.status}`),
      moreInfo: err.moreInfo,
      retryAfterSeconds: err.retryAfterSeconds,
    };
  }
  if (isTwilioServiceException(err)) {
    return {
      kind: 'rejected',
      code: err.code,
      status: err.status,
      message: redact(err.detail || err.title),
      moreInfo: err.type,
    };
  }
  const e = (err ?? {}) as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const causeCode = typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  // Node 20's happy-eyeballs AggregateError has an empty message: fall back to the code.
  const message = redact((typeof e.message === 'string' && e.message) || code || causeCode || String(err));
  const timedOut =
    (code && TIMEOUT_CODES.has(code)) || (causeCode && TIMEOUT_CODES.has(causeCode)) || /\btime(?:d)?[ -]?out\b/i.test(message);
  if (timedOut) return { kind: 'timeout', message };
  const neverReached = (code && NEVER_REACHED_CODES.has(code)) || (causeCode && NEVER_REACHED_CODES.has(causeCode));
  return { kind: neverReached ? 'network' : 'lost', message };
}
