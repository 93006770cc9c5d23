import type { Actor } from '../common/actor.js';

/** Event names the appointments module emits; it does not know who listens. */
export const APPOINTMENT_EVENTS = {
  confirmed: 'appointment.confirmed',
  cancelled: 'appointment.cancelled',
  rescheduled: 'appointment.rescheduled',
  reminderDue: 'appointment.reminder_due',
} as const;

/** What listeners get: the appointment as it is after the change, and who made it. */
export interface AppointmentSnapshot {
  id: string;
  clientName: string;
  clientPhone: string;
  clientLocale: string;
  startsAt: Date;
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
}

export interface AppointmentRescheduledEvent extends AppointmentEvent {
  previousStartsAt: Date;
}
