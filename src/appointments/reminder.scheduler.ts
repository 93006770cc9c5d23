import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThanOrEqual, Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import { describeError } from '../common/log-safe.js';
import { AppConfig } from '../config/app-config.js';
import { DomainEvents } from '../events/domain-events.service.js';
import { Appointment, AppointmentStatus } from './appointment.entity.js';
import { APPOINTMENT_EVENTS, type AppointmentEvent } from './appointment.events.js';
import { snapshot } from './appointments.service.js';
import { ReminderPolicy } from './reminder-policy.js';

/** Reminders claimed per scan; the next scan takes the rest. */
export const REMINDER_BATCH = 100;
const INTERVAL_NAME = 'appointment-reminders';

export interface ScanResult {
  claimed: number;
  /** Due reminders whose appointment already started (the service was down too long): dropped. */
  expired: number;
  skippedForQuietHours: boolean;
}

/**
 * Sends each confirmed appointment its reminder exactly once, with any number of instances on one
 * database: a scan reads due rows through the reminder_due_at index, then claims each with a
 * conditional UPDATE (only the instance whose update changes the row goes on), and the claim and the
 * `appointment.reminder_due` event are committed in one transaction: a crash after the claim cannot
 * lose the reminder, and the event's id makes the SMS's dedupe key, so a replay cannot send it twice.
 * `reminder_sent_at` is set only when the SMS has really gone (ReminderDeliveryListener). Reminders
 * that fell due while the service was down go out at the first scan, if the appointment is still
 * ahead; never during quiet hours.
 */
@Injectable()
export class ReminderScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ReminderScheduler.name);
  private running: Promise<ScanResult> | null = null;

  constructor(
    @InjectRepository(Appointment) private readonly appointments: Repository<Appointment>,
    private readonly policy: ReminderPolicy,
    private readonly events: DomainEvents,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly scheduler: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.reminders.enabled) return;
    const interval = setInterval(
      () => void this.scan().catch((error) => this.logger.error(`Reminder scan failed: ${describeError(error)}`)),
      this.config.reminders.scanIntervalSeconds * 1000,
    );
    this.scheduler.addInterval(INTERVAL_NAME, interval);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.scheduler.doesExist('interval', INTERVAL_NAME)) this.scheduler.deleteInterval(INTERVAL_NAME);
    await this.running?.catch(() => undefined);
  }

  /** One pass; overlapping calls in one instance share the pass under way. */
  scan(): Promise<ScanResult> {
    this.running ??= this.scanOnce().finally(() => (this.running = null));
    return this.running;
  }

  private async scanOnce(): Promise<ScanResult> {
    const now = this.clock.now();
    if (this.policy.quietWindowAt(now)) return { claimed: 0, expired: 0, skippedForQuietHours: true };
    const due = await this.appointments.find({
      where: { reminderDueAt: LessThanOrEqual(now) },
      order: { reminderDueAt: 'ASC' },
      take: REMINDER_BATCH,
    });
    let claimed = 0;
    let expired = 0;
    for (const appointment of due) {
      const stillAhead = appointment.startsAt.getTime() > now.getTime();
      if (!(await this.claim(appointment, now, stillAhead))) continue;
      if (stillAhead) {
        claimed++;
      } else {
        expired++;
        this.logger.warn(`Reminder for appointment ${appointment.id} dropped: it started at ${appointment.startsAt.toISOString()}`);
      }
    }
    // The claimed reminders' events were committed with their claims; the relay, woken by each
    // commit, sends them (a few at a time) without holding up the scan.
    return { claimed, expired, skippedForQuietHours: false };
  }

  /**
   * The atomic claim: clears the due time only if it is still set, still due, the appointment still confirmed and
   * still at the time the scan read (`send` was decided from it: one moved meanwhile, its new reminder maybe already
   * due, is left to the next scan, not dropped as started). Exactly one instance sees `affected = 1`, and only that
   * one writes the event, in the same transaction.
   */
  private claim(appointment: Appointment, now: Date, send: boolean): Promise<boolean> {
    return this.events.transaction(async ({ manager, publish }) => {
      const result = await manager.update(
        Appointment,
        {
          id: appointment.id,
          status: AppointmentStatus.Confirmed,
          startsAt: appointment.startsAt,
          reminderDueAt: LessThanOrEqual(now),
        },
        { reminderDueAt: null },
      );
      if (result.affected !== 1) return false;
      if (send) {
        // Read in the transaction: the reminder names the appointment as it is now (its revision included, which
        // the reminder's SMS version carries).
        const current = await manager
          .createQueryBuilder(Appointment, 'a')
          .addSelect('a.revision')
          .where('a.id = :id', { id: appointment.id })
          .getOneOrFail();
        const event: AppointmentEvent = { appointment: snapshot(current, current.revision), actor: null };
        await publish(APPOINTMENT_EVENTS.reminderDue, event);
      }
      return true;
    });
  }
}
