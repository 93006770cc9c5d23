/**
 * Summary of a V8 .cpuprofile (`node --cpu-prof`) by area of the send path: self time (where the CPU was)
 * and inclusive time (samples with a frame of the area anywhere on the stack), then the costliest
 * functions. Used by `npm run bench:send -- --cpu-prof`; also runs alone:
 *   node --loader ts-node/esm/transpile-only bench/cpu-profile.ts <file.cpuprofile> [--top 25] [--skip 4.5]
 * `--skip S` leaves out the profile's first S seconds (the app's start-up: module loading and compiling,
 * migrations, sign-in), which are not the send path; bench/send.ts passes the time its app took to be ready.
 * An async function's stack starts where it resumed (the microtask), so inclusive times of async code
 * cover its synchronous stretches only.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Areas, first match wins; the test is on the frame's script URL (or its name for V8's own entries). */
const AREAS: Array<[area: string, test: RegExp]> = [
  ['JWT guard (TokenAuthenticator, jsonwebtoken, users)', /node_modules\/(jsonwebtoken|jws|jwa|@nestjs\/jwt)\/|dist\/(auth|users)\//],
  ['validation (class-validator / -transformer)', /node_modules\/(class-validator|class-transformer|validator)\/|dist\/common\/validation/],
  ['phone numbers (libphonenumber-js)', /node_modules\/libphonenumber-js\/|dist\/phone\//],
  [
    'Twilio SDK (+ axios, form encoding)',
    /node_modules\/(twilio|axios|form-data|qs|follow-redirects|proxy-from-env|https-proxy-agent|agent-base|dayjs|scmp|xmlbuilder|jsonwebtoken-)\/|dist\/sms\/(twilio|providers)\//,
  ],
  [
    'logging (pino, nestjs-pino)',
    /node_modules\/(pino|pino-http|nestjs-pino|sonic-boom|pino-std-serializers|fast-redact|@pinojs\/[^/]+|thread-stream|on-exit-leak-free)\/|dist\/logging\//,
  ],
  ['metrics (prom-client)', /node_modules\/(prom-client|tdigest|bintrees)\/|dist\/metrics\//],
  ['SQLite driver (better-sqlite3)', /node_modules\/better-sqlite3\//],
  [
    'PostgreSQL driver (pg)',
    /node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-[a-z]+|pg-connection-string|pgpass|buffer-writer|packet-reader)\//,
  ],
  ['TypeORM', /node_modules\/typeorm\//],
  ['outbox and dispatch (ours)', /dist\/sms\/dispatch\/|dist\/database\//],
  ['audit journal (ours)', /dist\/audit\//],
  ['SMS service, templates, opt-outs, webhooks (ours)', /dist\/sms\//],
  ['other app code (ours)', /\/dist\//],
  [
    'Fastify + Nest pipeline',
    /node_modules\/(fastify|@fastify\/[^/]+|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|fast-content-type-parse|@nestjs\/(core|common|platform-fastify|swagger|terminus|event-emitter|schedule|typeorm|config)|rxjs|reflect-metadata|abstract-logging|process-warning|toad-cache|fast-querystring|rfdc|helmet|tslib|uuid|eventemitter2|iterare)\//,
  ],
  ['other packages', /node_modules\//],
  [
    'node: HTTP, net, streams',
    /^node:(internal\/)?(http|_http|net|stream|streams|internal\/streams|tls|dns|url|buffer|string_decoder|zlib|events|timers|async_hooks|internal\/http|internal\/net)/,
  ],
  ['node: other core', /^node:/],
];

function areaOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'garbage collection';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8 / native (program)';
    return 'V8 / native (builtins)';
  }
  for (const [area, test] of AREAS) if (test.test(url)) return area;
  return 'other';
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  areas: Array<{ area: string; selfMs: number; inclusiveMs: number }>;
  functions: Array<{ name: string; selfMs: number }>;
  ours: Array<{ name: string; inclusiveMs: number }>;
}

export function summarizeProfile(profile: CpuProfile, top = 20, skipMs = 0): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const fnSelf = new Map<string, number>();
  const oursInclusive = new Map<string, number>();
  const label = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url ? `${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
  let totalMs = 0;
  let idleMs = 0;
  let elapsedMs = 0;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time before sample i; the time after it is what it stands for.
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    elapsedMs += (profile.timeDeltas[i] ?? 0) / 1000;
    if (elapsedMs < skipMs) return;
    const node = byId.get(id)!;
    totalMs += ms;
    const area = areaOf(node.callFrame);
    if (area === 'idle') {
      idleMs += ms;
      return;
    }
    self.set(area, (self.get(area) ?? 0) + ms);
    fnSelf.set(label(node), (fnSelf.get(label(node)) ?? 0) + ms);
    const seenAreas = new Set<string>();
    const seenOurs = new Set<string>();
    for (let n: ProfileNode | undefined = node; n && n.callFrame.functionName !== '(root)'; n = byId.get(parent.get(n.id) ?? -1)) {
      seenAreas.add(areaOf(n.callFrame));
      if (n.callFrame.url.includes('/dist/') && !n.callFrame.url.includes('node_modules/') && n.callFrame.functionName)
        seenOurs.add(label(n));
    }
    for (const a of seenAreas) inclusive.set(a, (inclusive.get(a) ?? 0) + ms);
    for (const f of seenOurs) oursInclusive.set(f, (oursInclusive.get(f) ?? 0) + ms);
  });
  const sorted = <T>(m: Map<string, number>, make: (k: string, v: number) => T) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => make(k, v));
  return {
    totalMs,
    busyMs: totalMs - idleMs,
    areas: sorted(self, (area, selfMs) => ({ area, selfMs, inclusiveMs: inclusive.get(area) ?? selfMs })),
    functions: sorted(fnSelf, (name, selfMs) => ({ name, selfMs })).slice(0, top),
    ours: sorted(oursInclusive, (name, inclusiveMs) => ({ name, inclusiveMs })).slice(0, top),
  };
}

export function printProfileSummary(file: string, top = 20, skipMs = 0): ProfileSummary {
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top, skipMs);
  const { busyMs, totalMs } = summary;
  const pct = (ms: number) => `${((100 * ms) / busyMs).toFixed(1).padStart(5)} %`;
  const skipped = skipMs ? ` after the first ${(skipMs / 1000).toFixed(1)} s (start-up) left out` : '';
  console.log(
    `\nCPU profile ${file}\n  ${(totalMs / 1000).toFixed(1)} s sampled${skipped}, ${(busyMs / 1000).toFixed(1)} s busy (percentages of busy time)`,
  );
  console.log(`\n  ${'area'.padEnd(52)}  self       inclusive`);
  for (const a of summary.areas) console.log(`  ${a.area.padEnd(52)}  ${pct(a.selfMs)}    ${pct(a.inclusiveMs)}`);
  console.log(`\n  top functions by self time`);
  for (const f of summary.functions) console.log(`  ${pct(f.selfMs)}  ${f.name}`);
  console.log(`\n  our functions (dist/) by inclusive time`);
  for (const f of summary.ours) console.log(`  ${pct(f.inclusiveMs)}  ${f.name}`);
  return summary;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, ...flags] = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const at = flags.indexOf(name);
    return at >= 0 ? Number(flags[at + 1]) : fallback;
  };
  if (!file) {
    console.error('Usage: node --loader ts-node/esm/transpile-only bench/cpu-profile.ts <file.cpuprofile> [--top 25] [--skip <s>]');
    process.exit(1);
  }
  printProfileSummary(file, flag('--top', 20), flag('--skip', 0) * 1000);
}
