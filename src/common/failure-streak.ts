import type { Logger } from '@nestjs/common';

/**
 * A task run again and again (a relay pass every second, a sweep every few seconds) that fails while a dependency is
 * away: one line when it starts failing, one when it works again, not one per run (a database outage wrote thousands of
 * identical lines an hour per instance).
 */
export class FailureStreak {
  private failures = 0;

  constructor(
    private readonly logger: Pick<Logger, 'warn' | 'error' | 'log'>,
    /** What fails, in the lines: "Event relay pass". */
    private readonly what: string,
    private readonly level: 'warn' | 'error' = 'error',
  ) {}

  failed(error: unknown): void {
    if (this.failures++ === 0)
      this.logger[this.level](
        `${this.what} failed: ${error instanceof Error ? error.message : String(error)} (said once until it works again)`,
      );
  }

  succeeded(): void {
    if (this.failures === 0) return;
    this.logger.log(`${this.what} works again after ${this.failures} failed run(s)`);
    this.failures = 0;
  }
}
