import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A loopback stand-in for Twilio's 2010-04-01 Messages API, good enough for
 * the official SDK to talk to (see createTwilioClient's `baseUrl`). Answers use
 * Twilio's JSON shapes and error codes; the OpenAPI conformance test in
 * test/twilio-stand-in.e2e-spec.ts keeps the shapes honest.
 *
 * Secret scanners flag literal account SIDs, so every SID here is built at runtime.
 */

/** Test credentials, built at runtime (never write a literal account SID). */
export function testTwilioCredentials(): { accountSid: string; authToken: string } {
  return { accountSid: 'AC' + 'f'.repeat(32), authToken: 'a1b2c3d4'.repeat(4) };
}

/** A Messaging Service SID for tests. */
export function testMessagingServiceSid(): string {
  return 'MG' + 'e'.repeat(32);
}

/**
 * `To` numbers that fail like Twilio's test credentials make them fail.
 * `unverifiedTrial` is our own addition (Twilio's magic list has no 21608):
 * it lets tests exercise the trial-account refusal.
 */
export const TWILIO_MAGIC_NUMBERS = {
  invalid: '+15005550001',
  cannotRoute: '+15005550002',
  regionNotEnabled: '+15005550003',
  unsubscribed: '+15005550004',
  notMobile: '+15005550009',
  unverifiedTrial: '+15005550010',
} as const;

export interface TwilioErrorSpec {
  status: number;
  code: number;
  message: string;
}

const badRequest = (code: number, message: string): TwilioErrorSpec => ({ status: 400, code, message });
const N = TWILIO_MAGIC_NUMBERS;

/** What each magic `To` number answers (the number is interpolated where Twilio does). */
export const TWILIO_MAGIC_NUMBER_ERRORS: Readonly<Record<string, TwilioErrorSpec>> = {
  [N.invalid]: badRequest(21211, `The 'To' number ${N.invalid} is not a valid phone number.`),
  [N.cannotRoute]: badRequest(21612, `The 'To' phone number: ${N.cannotRoute}, is not currently reachable via SMS.`),
  [N.regionNotEnabled]: badRequest(
    21408,
    `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${N.regionNotEnabled}.`,
  ),
  [N.unsubscribed]: badRequest(21610, 'Attempt to send to unsubscribed recipient'),
  [N.notMobile]: badRequest(21614, `'To' number ${N.notMobile} is not a valid mobile number`),
  [N.unverifiedTrial]: badRequest(
    21608,
    `The number ${N.unverifiedTrial} is unverified. Trial accounts cannot send messages to unverified numbers.`,
  ),
};

/** Twilio's magic `From` number whose queue is full (21611), as its test credentials answer it. */
export const TWILIO_MAGIC_FROM_QUEUE_FULL = '+15005550008';

/** Every form field the stand-in reads on POST …/Messages.json (checked against the OpenAPI). */
export const STAND_IN_FORM_FIELDS = ['To', 'From', 'MessagingServiceSid', 'Body', 'MediaUrl', 'ContentSid', 'StatusCallback'] as const;

/** Every status the stand-in can answer with (checked against the OpenAPI where it lists them). */
export const STAND_IN_STATUSES = {
  create: 201,
  list: 200,
  fetch: 200,
  errors: [400, 401, 404, 405, 429, 500, 503],
} as const;

export interface TwilioStandInOptions {
  accountSid: string;
  authToken: string;
  /** Keep `requests` (default true); a throughput benchmark may turn it off. */
  recordRequests?: boolean;
  /** Port on 127.0.0.1 (default 0: any free one). */
  port?: number;
}

export interface StandInBehaviour {
  /** Delay before answering (also applies to failures). */
  delayMs?: number;
  /**
   * Twilio's own queue: how long a created message stays `queued` (or `accepted`), with no `date_sent`, before
   * Twilio sends it (default 0: sent as soon as it is created). Lists and fetches show it `sent`, with its
   * `date_sent`, from then on; the creation's answer is always `queued`/`accepted` with `date_sent` null, as Twilio's.
   */
  queueMs?: number;
  /** Fraction of requests failed, spread evenly and deterministically: 0.5 fails every 2nd, 1 all. */
  failRate?: number;
  failStatus?: 500 | 429 | 503;
  /** The first n requests fail with failStatus (then failRate, if any, applies). */
  failFirst?: number;
  /** Retry-After sent with 429 and 503 (default 1). */
  retryAfterSeconds?: number;
  /** Never answer; the socket stays open until stop(). */
  hang?: boolean;
  /** Answer 401 / 20003 whatever the credentials. */
  authFails?: boolean;
  /**
   * A mix of faults drawn per request from a seeded generator (reproducible): each `{status, rate}`
   * fails that fraction of requests; `dropReplyRate` of the message creations that pass are created,
   * then the connection is destroyed without an answer (a reply lost after Twilio accepted).
   */
  faults?: { status: 500 | 429 | 503; rate: number }[];
  dropReplyRate?: number;
  /**
   * A gateway in front of the API failing the first `first` (default 1) message creations with `status` and an HTML
   * page (no Twilio error body): after creating the message (`created`: its load balancer timed out waiting for the
   * answer) or before (`created: false`: nothing behind it).
   */
  gateway?: { status: 500 | 502 | 503 | 504; created: boolean; first?: number };
  /** Seed of the generator behind `faults` and `dropReplyRate` (default 1). */
  seed?: number;
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  /** Parsed form body; repeated keys (MediaUrl) become arrays. */
  form: Record<string, string | string[]>;
}

/** Twilio's Message resource, as the API returns it (api.v2010.account.message). */
export interface TwilioMessageResource {
  account_sid: string;
  api_version: string;
  body: string;
  date_created: string;
  /** Null until Twilio has sent it (a message waiting in Twilio's queue has none). */
  date_sent: string | null;
  date_updated: string;
  direction: 'outbound-api';
  error_code: number | null;
  error_message: string | null;
  from: string | null;
  messaging_service_sid: string | null;
  num_media: string;
  num_segments: string;
  price: string | null;
  price_unit: string;
  sid: string;
  status: 'queued' | 'accepted' | 'sent';
  subresource_uris: { media: string };
  to: string;
  uri: string;
}

class HttpError extends Error {
  readonly spec: TwilioErrorSpec;
  constructor(
    status: number,
    code: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.spec = { status, code, message };
  }
}

/** Injected faults: Twilio's codes for its own 5xx and rate limiting. */
const FAULTS = {
  500: { code: 20500, message: 'Internal Server Error' },
  429: { code: 20429, message: 'Too Many Requests' },
  503: { code: 20503, message: 'Service Unavailable' },
} as const;

const API_PREFIX = '/2010-04-01/Accounts/';
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

export class TwilioStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly messages: TwilioMessageResource[] = [];
  baseUrl = '';

  /** TCP connections accepted so far (keep-alive clients should need few). */
  connectionsAccepted = 0;

  /** Requests being handled right now, and the most there ever were at once (since reset()). */
  inFlight = 0;
  peakInFlight = 0;
  /** When each message creation (POST …/Messages.json) arrived, in ms. */
  readonly createTimes: number[] = [];
  /** Replies dropped after the message was created (`dropReplyRate`). */
  droppedReplies = 0;
  /** Message creations a gateway failed (`gateway`). */
  gatewayFailures = 0;

  private behaviour: StandInBehaviour = {};
  /** When Twilio sends each created message (its `date_sent`), by SID: see `queueMs`. */
  private readonly sendTimes = new Map<string, number>();
  private faultCounter = 0;
  private random: () => number = mulberry32(1);
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server: http.Server;

  private constructor(private readonly options: TwilioStandInOptions) {
    this.server = http.createServer({ keepAlive: true }, (req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.connectionsAccepted += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: TwilioStandInOptions): Promise<TwilioStandIn> {
    const standIn = new TwilioStandIn(options);
    await new Promise<void>((resolve, reject) => {
      standIn.server.once('error', reject);
      standIn.server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const { port } = standIn.server.address() as AddressInfo;
    standIn.baseUrl = `http://127.0.0.1:${port}`;
    return standIn;
  }

  get accountSid(): string {
    return this.options.accountSid;
  }

  setBehaviour(behaviour: StandInBehaviour): void {
    this.behaviour = { ...behaviour };
    this.faultCounter = 0;
    this.random = mulberry32(behaviour.seed ?? 1);
  }

  /** The most message creations that arrived within any one second. */
  peakCreatesPerSecond(): number {
    const times = [...this.createTimes].sort((a, b) => a - b);
    let peak = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i] - times[j] >= 1000) j++;
      peak = Math.max(peak, i - j + 1);
    }
    return peak;
  }

  /** Clears the records, the behaviour and the failRate counter. */
  reset(): void {
    this.requests.length = 0;
    this.messages.length = 0;
    this.sendTimes.clear();
    this.createTimes.length = 0;
    this.peakInFlight = this.inFlight;
    this.droppedReplies = 0;
    this.gatewayFailures = 0;
    this.setBehaviour({});
  }

  /** Closes the server, destroying every open socket (hung ones included). */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.inFlight += 1;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    let counted = true;
    const done = () => {
      if (counted) this.inFlight -= 1;
      counted = false;
    };
    res.once('finish', done);
    res.once('close', done);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        form: parseForm(Buffer.concat(chunks).toString('utf8')),
      };
      if (this.options.recordRequests !== false) this.requests.push(recorded);
      // Arrival of each message creation (before any configured delay).
      if (recorded.method === 'POST' && recorded.path.endsWith('/Messages.json')) this.createTimes.push(Date.now());

      const { hang, delayMs } = this.behaviour;
      if (hang) return; // never answered; stop() destroys the socket
      const answer = () => this.answer(recorded, url, res);
      if (!delayMs) return answer();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        answer();
      }, delayMs);
      this.timers.add(timer);
    });
  }

  private answer(req: RecordedRequest, url: URL, res: http.ServerResponse): void {
    const create = req.method === 'POST' && req.path.endsWith('/Messages.json');
    try {
      this.injectFault();
      const draw = this.behaviour.faults?.length || this.behaviour.dropReplyRate ? this.random() : 1;
      let edge = 0;
      for (const fault of this.behaviour.faults ?? []) {
        edge += fault.rate;
        if (draw < edge) {
          const { code, message } = FAULTS[fault.status];
          const headers: Record<string, string> =
            fault.status === 500 ? {} : { 'Retry-After': String(this.behaviour.retryAfterSeconds ?? 1) };
          throw new HttpError(fault.status, code, message, headers);
        }
      }
      const gateway = this.behaviour.gateway;
      const gatewayFails = create && gateway && this.gatewayFailures < (gateway.first ?? 1);
      if (gatewayFails && !gateway.created) return this.gatewayAnswer(res, gateway.status);
      const { status, body } = this.route(req, url);
      if (gatewayFails && status === 201) return this.gatewayAnswer(res, gateway.status);
      if (create && status === 201 && draw < edge + (this.behaviour.dropReplyRate ?? 0)) {
        // Twilio took the message; the reply never reaches the client.
        this.droppedReplies += 1;
        res.socket?.destroy();
        return;
      }
      send(res, status, body);
    } catch (caught) {
      // A bug in the stand-in answers like a Twilio outage instead of killing the test process.
      const err = caught instanceof HttpError ? caught : new HttpError(500, 20500, String(caught));
      const { status, code, message } = err.spec;
      const errorBody = { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
      send(res, status, errorBody, err.headers);
    }
  }

  /** A gateway's own error page: HTML, no Twilio code (the SDK's RestException then has only the status). */
  private gatewayAnswer(res: http.ServerResponse, status: number): void {
    this.gatewayFailures += 1;
    const page = `<html><body><h1>${status} ${http.STATUS_CODES[status]}</h1></body></html>`;
    res.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(page) });
    res.end(page);
  }

  /** Deterministic failRate: request n fails when floor(n·rate) steps up (Bresenham-style). */
  private injectFault(): void {
    const { failRate = 0, failStatus = 500, retryAfterSeconds = 1, failFirst = 0 } = this.behaviour;
    if (failRate <= 0 && failFirst <= 0) return;
    const n = ++this.faultCounter;
    const first = n <= failFirst;
    if (!first && (failRate <= 0 || Math.floor(n * failRate) === Math.floor((n - 1) * failRate))) return;
    const { code, message } = FAULTS[failStatus];
    const headers: Record<string, string> = failStatus === 500 ? {} : { 'Retry-After': String(retryAfterSeconds) };
    throw new HttpError(failStatus, code, message, headers);
  }

  private route(req: RecordedRequest, url: URL): { status: number; body: unknown } {
    this.authenticate(req);
    const notFound = (): HttpError => new HttpError(404, 20404, `The requested resource ${url.pathname} was not found`);
    const notAllowed = (): HttpError => new HttpError(405, 20004, 'Method not allowed');
    if (!req.path.startsWith(API_PREFIX)) throw notFound();
    const [accountSid, collection, resource, ...rest] = req.path.slice(API_PREFIX.length).split('/');
    // Credentials valid for one account do not open another account's resources.
    if (accountSid !== this.options.accountSid) throw authenticateError();

    if (collection === 'Messages.json' && resource === undefined) {
      if (req.method === 'POST') return { status: 201, body: this.createMessage(req.form) };
      if (req.method === 'GET') return { status: 200, body: this.listMessages(url) };
      throw notAllowed();
    }
    if (collection === 'Messages' && resource?.endsWith('.json') && rest.length === 0) {
      if (req.method !== 'GET') throw notAllowed();
      const message = this.messages.find((m) => `${m.sid}.json` === resource);
      if (!message) throw notFound();
      return { status: 200, body: this.asNow(message) };
    }
    throw notFound();
  }

  private authenticate(req: RecordedRequest): void {
    if (this.behaviour.authFails) throw authenticateError();
    const header = req.headers.authorization ?? '';
    const [scheme, encoded = ''] = header.split(' ');
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const expected = `${this.options.accountSid}:${this.options.authToken}`;
    if (scheme?.toLowerCase() !== 'basic' || decoded !== expected) throw authenticateError();
  }

  private createMessage(form: Record<string, string | string[]>): TwilioMessageResource {
    const field = (name: string): string | undefined => {
      const value = form[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const to = field('To');
    const from = field('From');
    const serviceSid = field('MessagingServiceSid');
    const body = field('Body') ?? '';
    // Validation order and codes follow Twilio's answers for the same mistakes.
    if (!to) throw new HttpError(400, 21604, "A 'To' phone number is required.");
    if (!from && !serviceSid) throw new HttpError(400, 21603, "A 'From' phone number is required.");
    // Twilio accepts media or a content template instead of a body.
    if (!body && !form.MediaUrl && !field('ContentSid')) throw new HttpError(400, 21602, 'Message body is required.');
    if ([...body].length > 1600) {
      throw new HttpError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    }
    const magic = TWILIO_MAGIC_NUMBER_ERRORS[to];
    if (magic) throw new HttpError(magic.status, magic.code, magic.message);
    if (from === TWILIO_MAGIC_FROM_QUEUE_FULL)
      throw new HttpError(400, 21611, "This 'From' number has exceeded the maximum number of queued messages");

    const sid = 'SM' + randomBytes(16).toString('hex');
    const uri = `${API_PREFIX}${this.options.accountSid}/Messages/${sid}`;
    const now = rfc2822(new Date());
    const mediaCount = Array.isArray(form.MediaUrl) ? form.MediaUrl.length : form.MediaUrl ? 1 : 0;
    const message: TwilioMessageResource = {
      account_sid: this.options.accountSid,
      api_version: '2010-04-01',
      body,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: from ?? null,
      messaging_service_sid: serviceSid ?? null,
      num_media: String(mediaCount),
      num_segments: String(countSegments(body)),
      price: null,
      price_unit: 'USD',
      sid,
      // Twilio answers "accepted" when it still has to pick a sender from the service.
      status: !from && serviceSid ? 'accepted' : 'queued',
      subresource_uris: { media: `${uri}/Media.json` },
      to,
      uri: `${uri}.json`,
    };
    this.messages.push(message);
    this.sendTimes.set(sid, Date.now() + (this.behaviour.queueMs ?? 0));
    return message;
  }

  /** A message as Twilio shows it now: `sent`, with its `date_sent`, once its time in Twilio's queue is over. */
  private asNow(message: TwilioMessageResource): TwilioMessageResource {
    const sentAt = this.sendTimes.get(message.sid);
    if (sentAt === undefined || sentAt > Date.now()) return message;
    const at = rfc2822(new Date(sentAt));
    return { ...message, status: 'sent', date_sent: at, date_updated: at };
  }

  /**
   * One page of messages, newest first, filtered by To / From and by DateSent (`DateSent`: that day or
   * that instant; `DateSent<`: on or before; `DateSent>`: on or after; a YYYY-MM-DD value covers its day).
   */
  private listMessages(url: URL): Record<string, unknown> {
    const to = url.searchParams.get('To');
    const from = url.searchParams.get('From');
    const sentOn = dateFilter(url.searchParams.get('DateSent'), 'DateSent');
    const sentBefore = dateFilter(url.searchParams.get('DateSent<'), 'DateSent<');
    const sentAfter = dateFilter(url.searchParams.get('DateSent>'), 'DateSent>');
    // A message not sent yet (in Twilio's queue) has no date_sent: no DateSent filter matches it.
    const sentMatches = (m: TwilioMessageResource): boolean => {
      if (!(sentOn || sentBefore || sentAfter)) return true;
      if (m.date_sent === null) return false;
      const at = Date.parse(m.date_sent);
      if (sentOn && (at < sentOn.start || at > sentOn.end)) return false;
      if (sentBefore && at > sentBefore.end) return false;
      if (sentAfter && at < sentAfter.start) return false;
      return true;
    };
    const requested = Number(url.searchParams.get('PageSize') ?? DEFAULT_PAGE_SIZE);
    const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, Number.isFinite(requested) ? requested : DEFAULT_PAGE_SIZE));
    const page = Math.max(0, Number(url.searchParams.get('Page') ?? 0) || 0);
    const matching = this.messages
      .map((m) => this.asNow(m))
      .filter((m) => (!to || m.to === to) && (!from || m.from === from) && sentMatches(m))
      .reverse();
    const start = page * pageSize;
    const messages = matching.slice(start, start + pageSize);
    const pageUri = (n: number): string => {
      const query = new URLSearchParams();
      if (to) query.set('To', to);
      if (from) query.set('From', from);
      for (const name of ['DateSent', 'DateSent<', 'DateSent>']) {
        const value = url.searchParams.get(name);
        if (value) query.set(name, value);
      }
      query.set('PageSize', String(pageSize));
      query.set('Page', String(n));
      return `${url.pathname}?${query.toString()}`;
    };
    return {
      messages,
      end: Math.max(start, start + messages.length - 1),
      first_page_uri: pageUri(0),
      next_page_uri: start + pageSize < matching.length ? pageUri(page + 1) : null,
      page,
      page_size: pageSize,
      previous_page_uri: page > 0 ? pageUri(page - 1) : null,
      start,
      uri: pageUri(page),
    };
  }
}

/** A DateSent filter value: a GMT day (YYYY-MM-DD, its whole day) or an ISO 8601 instant (whole seconds, as date_sent has). */
function dateFilter(value: string | null, name: string): { start: number; end: number } | null {
  if (!value) return null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const start = Date.parse(`${value}T00:00:00Z`);
    if (!Number.isNaN(start)) return { start, end: start + 86_400_000 - 1 };
  }
  const at = Date.parse(value);
  if (Number.isNaN(at) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    throw new HttpError(400, 20001, `Invalid ${name}: ${value}`);
  }
  const second = Math.floor(at / 1000) * 1000;
  return { start: second, end: second + 999 };
}

/** A small seeded generator (mulberry32): the same faults in the same order on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function authenticateError(): HttpError {
  return new HttpError(401, 20003, 'Authenticate', { 'WWW-Authenticate': 'Basic realm="Twilio API"' });
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    'Twilio-Request-Id': 'RQ' + randomBytes(16).toString('hex'),
    ...headers,
  });
  res.end(payload);
}

function parseForm(raw: string): Record<string, string | string[]> {
  const form: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const previous = form[key];
    form[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  return form;
}

/** "Thu, 24 Aug 2023 05:01:45 +0000", the way Twilio writes dates. */
function rfc2822(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENDED = new Set('^{}\\[~]|€\f'); // each costs an escape + the character

/** SMS segments: GSM-7 160 (153 when concatenated), otherwise UCS-2 70 (67). */
export function countSegments(body: string): number {
  let septets = 0;
  for (const char of body) {
    if (GSM7_BASIC.has(char)) septets += 1;
    else if (GSM7_EXTENDED.has(char)) septets += 2;
    else {
      const units = body.length; // UTF-16 code units, as UCS-2 (surrogate pairs count 2)
      return units <= 70 ? 1 : Math.ceil(units / 67);
    }
  }
  return septets <= 160 ? 1 : Math.ceil(septets / 153);
}
