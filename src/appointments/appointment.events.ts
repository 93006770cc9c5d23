import type { Actor } from '../common/actor.js';

/**
 * Event names the appointments module raises. They are written to the outbox (domain_events) in the
 * same transaction as the change, then delivered by the relay as a DomainEventEnvelope of the payloads
 * below; the module does not know who listens.
 */
export const APPOINTMENT_EVENTS = {
  confirmed: 'appointment.confirmed',
  cancelled: 'appointment.cancelled',
  rescheduled: 'appointment.rescheduled',
  reminderDue: 'appointment.reminder_due',
} as const;

/** The template of an appointment's reminder (its SMS, and what SendHours and ReminderDeliveryListener look for). */
export const REMINDER_TEMPLATE = 'appointment_reminder';

/** What listeners get: the appointment as it is after the change (plain JSON: dates are ISO 8601). */
export interface AppointmentSnapshot {
  id: string;
  clientName: string;
  clientPhone: string;
  clientLocale: string;
  startsAt: string;
  durationMinutes: number;
  location: string | null;
  /**
   * Appointment.revision after the change: counts the changes of status, start and number, so the SMS's version tells
   * a move and back (T → T2 → T) from no change. Absent in events written before it existed.
   */
  revision?: number;
}

export interface AppointmentEvent {
  appointment: AppointmentSnapshot;
  /** The acting user; null for the reminder scheduler. */
  actor: Actor | null;
}

export interface AppointmentCancelledEvent extends AppointmentEvent {
  reason: string | null;
  /** When it was cancelled (ISO 8601): a cancellation after the start texts nobody. */
  cancelledAt: string;
}

export interface AppointmentRescheduledEvent extends AppointmentEvent {
  previousStartsAt: string;
}

/**
 * The state of an appointment an SMS about it is written for (`related.version`): its status, start and client
 * number, and its revision (how many times these changed: a move and back, T → T2 → T, is a new state although the
 * three read the same again). Before each attempt the dispatcher asks the appointments side (RelatedRecords)
 * whether it is still the appointment's state: a confirmation or reminder of a cancelled or moved appointment, or
 * one addressed to a number since replaced, is dropped, whatever order the events were delivered in.
 */
export function appointmentSmsVersion(
  status: 'confirmed' | 'cancelled',
  appointment: Pick<AppointmentSnapshot, 'startsAt' | 'clientPhone' | 'revision'>,
): string {
  const version = `${status}|${new Date(appointment.startsAt).toISOString()}|${appointment.clientPhone}`;
  return appointment.revision === undefined ? version : `${version}|${appointment.revision}`;
}

/**
 * The parts of an appointmentSmsVersion (the one place that knows its layout, with the function above). `revision`
 * is null in a version written before revisions existed (`status|start|number`): it is not compared then.
 */
export function parseAppointmentSmsVersion(version: string): {
  status: string;
  startsAt: string;
  clientPhone: string;
  revision: number | null;
} {
  const [status = '', startsAt = '', clientPhone = '', revision] = version.split('|');
  return { status, startsAt, clientPhone, revision: revision === undefined || revision === '' ? null : Number(revision) };
}
