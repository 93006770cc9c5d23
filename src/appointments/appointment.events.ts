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
 * number. Before each attempt the dispatcher asks the appointments side (RelatedRecords) whether it is still the
 * appointment's state: a confirmation or reminder of a cancelled or moved appointment, or one addressed to a
 * number since replaced, is dropped, whatever order the events were delivered in.
 */
export function appointmentSmsVersion(
  status: 'confirmed' | 'cancelled',
  appointment: Pick<AppointmentSnapshot, 'startsAt' | 'clientPhone'>,
): string {
  return `${status}|${new Date(appointment.startsAt).toISOString()}|${appointment.clientPhone}`;
}

/** The parts of an appointmentSmsVersion (the one place that knows its layout, with the function above). */
export function parseAppointmentSmsVersion(version: string): { status: string; startsAt: string; clientPhone: string } {
  const [status = '', startsAt = '', clientPhone = ''] = version.split('|');
  return { status, startsAt, clientPhone };
}
