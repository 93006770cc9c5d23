import { Injectable } from '@nestjs/common';

/** Why a message written for `version` of the record `id` must not leave now (a sentence), or null when it may. */
export type OutdatedCheck = (id: string, version: string) => Promise<string | null>;

/**
 * Where the SMS dispatcher asks whether a message about another module's record (an appointment…) still makes
 * sense, right before each attempt: the record may have been cancelled, moved or given a new number since the
 * message was written (its event delivered late, or the message waiting for a retry), or its time may have come.
 * Each module that sends SMS about its records registers one check for its record type at start-up (the
 * appointments' is AppointmentRecords); the SMS module never reads their tables. Global (CommonModule).
 */
@Injectable()
export class RelatedRecords {
  private readonly checks = new Map<string, OutdatedCheck>();

  /** One check per record type: a second one for the same type is a wiring mistake, refused at start-up. */
  register(type: string, check: OutdatedCheck): void {
    if (this.checks.has(type)) throw new Error(`RelatedRecords: a check for "${type}" is registered already`);
    this.checks.set(type, check);
  }

  /**
   * Why a message written for `version` of the record `type` + `id` must not leave now (stored with the message as
   * it is skipped as OUTDATED), or null when it may. A type nobody registered: null.
   */
  whyOutdated(type: string, id: string, version: string): Promise<string | null> {
    return this.checks.get(type)?.(id, version) ?? Promise.resolve(null);
  }
}
