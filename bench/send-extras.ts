/**
 * The parts of bench:send beyond the request throughput: operations per second of phone formatting and
 * template rendering (the app's own classes, as built in dist/, in this process), and the app's memory at
 * rest and after repeated 10,000-recipient bulk batches (a fresh app per database).
 * Usage and how to read the figures: bench/README.md.
 */
import { readFileSync } from 'node:fs';
import { HarnessError, type AppProcess } from './processes.js';

// Typed from the source, loaded from the build: the very modules `node dist/main.js` runs.
type PhoneModule = typeof import('../src/phone/phone-number.service.js');
type TemplateModule = typeof import('../src/sms/templates/sms-template.service.js');
type PlaceholdersModule = typeof import('../src/sms/placeholders.js');

export interface OpsRow {
  operation: string;
  opsPerSecond: number;
  microsPerOp: number;
}

/** Runs `op` for about `seconds` (after a tenth of that as warm-up); ops per second. */
function rate(seconds: number, op: (i: number) => unknown): { opsPerSecond: number; microsPerOp: number } {
  const run = (ms: number) => {
    let i = 0;
    const start = performance.now();
    let now = start;
    // Checking the clock every 256 calls keeps its cost out of the figure.
    while (now - start < ms) {
      for (let k = 0; k < 256; k++) op(i++);
      now = performance.now();
    }
    return { ops: i, ms: now - start };
  };
  run(Math.max(50, seconds * 100));
  const { ops, ms } = run(seconds * 1000);
  return { opsPerSecond: (ops * 1000) / ms, microsPerOp: (ms * 1000) / ops };
}

/**
 * Phone numbers: `format` (what GET /api/sms/format-phone and the validation of every send run) on
 * 50,000 distinct numbers written in several ways, more than the service keeps (5,000 recent results), so
 * every call parses with libphonenumber's metadata; then one number again and again (a recent result).
 * Templates: `render` of each public notification type with its documented example data, in French and English.
 * Placeholder check (`strayPlaceholder`, run on every single and bulk text): an ordinary 160-character bulk text,
 * then the worst case of the longest text, 1,600 `{` (a pattern matched from every brace of a run took 7 ms on it,
 * quadratic; from its first brace only, as now, a few µs): the second row's µs/op should stay within a few times
 * the first's.
 */
export async function measureOps(distDir: URL, seconds: number): Promise<OpsRow[]> {
  const { PhoneNumberService } = (await import(new URL('phone/phone-number.service.js', distDir).href)) as PhoneModule;
  const { SmsTemplateService } = (await import(new URL('sms/templates/sms-template.service.js', distDir).href)) as TemplateModule;
  const phones = new PhoneNumberService('FR');
  const forms = [
    (n: string) => `06${n}`,
    (n: string) => `+33 7 ${n.slice(0, 2)} ${n.slice(2, 4)} ${n.slice(4, 6)} ${n.slice(6)}`,
    (n: string) => `0033 6${n}`,
    (n: string) => `+1 (415) 5${n.slice(0, 2)}-${n.slice(2, 6)}`,
    (n: string) => `+44 7700 9${n.slice(0, 5)}`,
  ];
  const distinct = Array.from({ length: 50_000 }, (_, i) => forms[i % forms.length](String(i).padStart(8, '0')));
  const placeholders = (await import(new URL('sms/placeholders.js', distDir).href)) as PlaceholdersModule;
  const templates = new SmsTemplateService('Europe/Paris');
  const cases = (['fr', 'en'] as const).flatMap((locale) =>
    templates.list(locale).map((t) => ({ type: t.type, data: (t.example as { data: Record<string, unknown> }).data, locale })),
  );
  for (const c of cases) if (!templates.render(c.type, c.data, c.locale)) throw new HarnessError(`template ${c.type} renders nothing`);
  if (!phones.format(distinct[0]).valid) throw new HarnessError(`${distinct[0]} is not valid for the phone service`);
  const rows: OpsRow[] = [
    { operation: 'phone format, distinct numbers (parsed)', ...rate(seconds, (i) => phones.format(distinct[i % distinct.length])) },
    { operation: 'phone format, the same number (recent result)', ...rate(seconds, () => phones.format('06 12 34 56 78')) },
    {
      operation: `template render (${cases.length} types x locales)`,
      ...rate(seconds, (i) => {
        const c = cases[i % cases.length];
        return templates.render(c.type, c.data, c.locale);
      }),
    },
    ...placeholderRows(seconds, placeholders),
  ];
  return rows;
}

function placeholderRows(seconds: number, { strayPlaceholder, ONLY_NAME_PLACEHOLDER: onlyName }: PlaceholdersModule): OpsRow[] {
  const ordinary =
    'Bonjour {{name}}, votre rendez-vous du 15 janvier à 14h30 est confirmé. Pour le déplacer, appelez le cabinet au 01 23 45 67 89. À bientôt !'.padEnd(
      160,
      '.',
    );
  const braces = '{'.repeat(1600);
  if (strayPlaceholder(ordinary, onlyName) !== undefined) throw new HarnessError('the ordinary bulk text has a stray placeholder');
  return [
    { operation: 'placeholder check, 160-character bulk text', ...rate(seconds, () => strayPlaceholder(ordinary, onlyName)) },
    { operation: 'placeholder check, 1,600 `{` (worst case)', ...rate(seconds, () => strayPlaceholder(braces, onlyName)) },
  ];
}

export function printOps(rows: OpsRow[]): void {
  const width = Math.max(...rows.map((r) => r.operation.length));
  console.log(`\n${'operation'.padEnd(width)}      ops/s   µs/op\n${'-'.repeat(width)}  ---------  ------`);
  for (const r of rows) {
    console.log(`${r.operation.padEnd(width)}  ${r.opsPerSecond.toFixed(0).padStart(9)}  ${r.microsPerOp.toFixed(2).padStart(6)}`);
  }
}

/** The app's resident set now (VmRSS), in MB; null off Linux. */
export function rssMb(pid: number | undefined): number | null {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Number.isFinite(kb) ? kb / 1024 : null;
  } catch {
    return null;
  }
}

/** The app's own view of its heap (prom-client's default metric), in MB. */
async function heapUsedMb(origin: string, metricsToken: string): Promise<number | null> {
  const res = await fetch(`${origin}/api/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
  const text = await res.text();
  const bytes = Number(/^nodejs_heap_size_used_bytes\s+(\S+)/m.exec(text)?.[1]);
  return res.ok && Number.isFinite(bytes) ? bytes / 2 ** 20 : null;
}

/**
 * Node flags for the app of the memory pass: SIGUSR2 runs a full garbage collection (the app itself does
 * not handle SIGUSR2), so that each sample is taken after one.
 */
export const MEMORY_NODE_ARGS = ['--expose-gc', '--import', 'data:text/javascript,process.on("SIGUSR2",()=>globalThis.gc())'];

export interface MemoryRow {
  moment: string;
  rssMb: number | null;
  heapMb: number | null;
  sent?: number;
  seconds?: number;
}

/**
 * RSS (and heap used) of an app at rest (booted, signed in, idle), then after each of `rounds` bulk batches
 * of `recipients` distinct numbers has been sent (the batch completed); each sample after a full collection
 * (the app started with MEMORY_NODE_ARGS).
 */
export async function measureMemory(options: {
  app: AppProcess;
  origin: string;
  token: string;
  metricsToken: string;
  recipients: number;
  rounds: number;
}): Promise<MemoryRow[]> {
  const { app, origin, token, metricsToken } = options;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const sample = async (moment: string, extra: Partial<MemoryRow> = {}): Promise<MemoryRow> => {
    // A full collection first (MEMORY_NODE_ARGS): heap used is then what is still referenced, not garbage.
    await pause(1000);
    app.child.kill('SIGUSR2');
    await pause(1000);
    return { moment, rssMb: rssMb(app.child.pid), heapMb: await heapUsedMb(origin, metricsToken), ...extra };
  };
  const rows = [await sample('at rest')];
  for (let round = 1; round <= options.rounds; round++) {
    const started = performance.now();
    const res = await fetch(`${origin}/api/sms/bulk`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        // Distinct numbers in every round: nothing is a duplicate, every row is new.
        recipients: Array.from({ length: options.recipients }, (_, i) => ({
          phone: `+336${String(round * 10_000_000 + i)
            .padStart(8, '0')
            .slice(-8)}`,
          name: `Client ${i}`,
        })),
        message: 'Bonjour {{name}}, votre rendez-vous est confirmé.',
      }),
    });
    const accepted = (await res.json()) as { batchId?: string; queued?: number };
    if (res.status !== 202 || !accepted.batchId) {
      throw new HarnessError(`bulk answered ${res.status}: ${JSON.stringify(accepted).slice(0, 300)}\n${app.tail()}`);
    }
    let batch: { status: string; counts: Record<string, number> };
    for (;;) {
      const view = await fetch(`${origin}/api/sms/bulk/${accepted.batchId}`, { headers });
      batch = (await view.json()) as typeof batch;
      if (batch.status !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const seconds = (performance.now() - started) / 1000;
    if (batch.counts.sent !== accepted.queued) {
      throw new HarnessError(`batch ${round} ended ${batch.status} with ${batch.counts.sent} of ${accepted.queued} sent\n${app.tail()}`);
    }
    rows.push(await sample(`after batch ${round}`, { sent: batch.counts.sent, seconds }));
  }
  return rows;
}

export function printMemory(kind: string, rows: MemoryRow[]): void {
  const mb = (v: number | null | undefined) => (v === null || v === undefined ? '?' : v.toFixed(1));
  const delta = (now: number | null, before: number | null | undefined) =>
    now === null || before === null || before === undefined ? '' : `${now - before >= 0 ? '+' : ''}${(now - before).toFixed(1)}`;
  console.log(`\nmemory [${kind}]        RSS MB  vs previous  heap used MB  vs previous  batch`);
  rows.forEach((r, i) => {
    const previous = rows[i - 1];
    console.log(
      `  ${r.moment.padEnd(20)}  ${mb(r.rssMb).padStart(6)}  ${delta(r.rssMb, previous?.rssMb).padStart(11)}  ` +
        `${mb(r.heapMb).padStart(12)}  ${delta(r.heapMb, previous?.heapMb).padStart(11)}  ` +
        (r.sent === undefined ? '' : `${r.sent} sent in ${r.seconds!.toFixed(1)} s`),
    );
  });
  const batches = rows.slice(1);
  if (batches.length >= 2) {
    const first = batches[0];
    const last = batches.at(-1)!;
    console.log(
      `  growth from batch 1 to batch ${batches.length}: RSS ${delta(last.rssMb, first.rssMb) || '?'} MB, heap ${delta(last.heapMb, first.heapMb) || '?'} MB`,
    );
  }
}
