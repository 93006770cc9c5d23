import { Injectable } from '@nestjs/common';

/** What a part of the service says about its readiness to take traffic. */
export interface ReadinessState {
  ready: boolean;
  /**
   * Why not (or what it is, when ready): shown in the public answer of GET /api/health/ready, so a fixed text of
   * the part's code, never an error's message (which can name hosts and users). A `readiness()` that throws is
   * answered `unavailable`, its message logged.
   */
  detail?: string;
}

/**
 * A part of the service that GET /api/health/ready asks (the dispatcher: is it running?). Implement
 * it and register it with {@link ReadinessRegistry.register}, typically in `onModuleInit`.
 */
export interface ReadinessIndicator {
  /** The name the readiness answer uses (`dispatcher`, `sms-provider`). */
  readonly readinessName: string;
  readiness(): ReadinessState | Promise<ReadinessState>;
}

/** The parts GET /api/health/ready asks besides the database and Redis. */
@Injectable()
export class ReadinessRegistry {
  private readonly indicators = new Map<string, ReadinessIndicator>();

  register(indicator: ReadinessIndicator): void {
    this.indicators.set(indicator.readinessName, indicator);
  }

  unregister(name: string): void {
    this.indicators.delete(name);
  }

  list(): ReadinessIndicator[] {
    return [...this.indicators.values()];
  }
}
