/**
 * The port through which the SMS dispatcher asks another module whether a message about one of its records (an
 * appointment…) still makes sense, right before each attempt: the record may have been cancelled, moved or given
 * a new number since the message was written (its event delivered late, or the message waiting for a retry), or
 * its time may have come. The module that owns the records provides it globally (AppointmentPortsModule for
 * appointments); the SMS module never reads their tables. Inject it by this class.
 */
export abstract class RelatedRecords {
  /**
   * Why a message written for `version` of the record `type` + `id` must not leave now (a sentence, stored with
   * the message as it is dropped as OUTDATED), or null when it may. Unknown types: null.
   */
  abstract whyOutdated(type: string, id: string, version: string): Promise<string | null>;
}
