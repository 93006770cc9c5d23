import type { DestinationStream } from 'pino';

/** A pino destination in memory: every JSON line an app writes, parsed, for a test to read. */
export class LogCapture implements DestinationStream {
  readonly raw: string[] = [];

  write(line: string): void {
    this.raw.push(line);
  }

  get lines(): Record<string, unknown>[] {
    return this.raw.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** Lines written for one request. */
  forRequest(requestId: string): Record<string, unknown>[] {
    return this.lines.filter((line) => line.requestId === requestId);
  }

  /** Everything written, as one text to search for what must never appear. */
  get text(): string {
    return this.raw.join('');
  }

  clear(): void {
    this.raw.length = 0;
  }
}
