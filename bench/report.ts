/** The benchmark's table and verdict. */
import type { Result } from 'autocannon';

export interface Row {
  label: string;
  result: Result;
  /** Messages the stand-in created during the measured run. */
  twilioMessages: number;
  /** CPU time the target's process used per successful request (Linux only). */
  cpuMsPerRequest?: number;
}

/** Prints the table and the ratios; false when some measured requests failed (the figures are then not valid). */
export function printReport(rows: Row[], ratios: string[]): boolean {
  const header = ['target', 'req/s', 'p50 ms', 'p99 ms', '2xx', 'non-2xx', 'errors', 'Twilio msgs', 'CPU ms/req'];
  const cells = rows.map(({ label, result: r, twilioMessages, cpuMsPerRequest }) => [
    label,
    r.requests.average.toFixed(1),
    String(r.latency.p50),
    String(r.latency.p99),
    String(r['2xx']),
    String(r.non2xx),
    String(r.errors),
    String(twilioMessages),
    cpuMsPerRequest === undefined ? '-' : cpuMsPerRequest.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${cells.map(line).join('\n')}`);
  console.log(`\napp/baseline requests/s:\n${ratios.map((r) => `  ${r}`).join('\n')}`);

  const failing = rows.filter(({ result: r }) => r.non2xx > 0 || r.errors > 0);
  for (const { label, result: r } of failing) {
    const codes = Object.entries(r.statusCodeStats).map(([code, { count }]) => `${code}: ${count}`);
    console.error(`\n!!! ${label}: ${r.non2xx} non-2xx (status codes ${codes.join(', ')}), ${r.errors} errors (${r.timeouts} timeouts)`);
  }
  if (failing.length) console.error('!!! Some requests failed: these figures do not measure successful sends.');
  return failing.length === 0;
}
