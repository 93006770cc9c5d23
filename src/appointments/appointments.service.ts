import { BadRequestException, ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { AuditAction } from '../audit/audit-action.enum.js';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { Page, paginate } from '../common/dto/pagination.dto.js';
import { RelatedMessages, type DeliveryCounts, type RelatedMessage } from '../common/related-messages.js';
import { DomainEvents } from '../events/domain-events.service.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import { Appointment, AppointmentStatus } from './appointment.entity.js';
import {
  APPOINTMENT_EVENTS,
  type AppointmentCancelledEvent,
  type AppointmentEvent,
  type AppointmentRescheduledEvent,
  type AppointmentSnapshot,
} from './appointment.events.js';
import { CreateAppointmentDto, ListAppointmentsQueryDto, UpdateAppointmentDto } from './dto/appointment.dto.js';
import { ReminderPolicy } from './reminder-policy.js';

/** The appointment's SMS as shown with it: what was sent about it, and how it went. */
export type AppointmentMessage = RelatedMessage;

/** An edit redone this many times because other changes kept landing first answers 409. */
const MAX_EDIT_ATTEMPTS = 5;

/**
 * Set with every change of status, start or client number (what an SMS about the appointment is written for): the
 * SMS's version carries the revision, so one written before a move and back (T → T2 → T) is outdated too.
 */
const NEXT_REVISION = { revision: () => '"revision" + 1' };

/**
 * Appointment rules and transitions. Every change is a conditional update on the current status (and,
 * for edits and confirmations, the start time read), so two concurrent requests cannot both confirm,
 * cancel, or move the appointment to the same new time. A change, its journal entry and the event
 * that asks for an SMS are written in one transaction (the outbox, see DomainEvents): all or nothing.
 * The SMS goes out after the commit, when the relay delivers the event: a failed SMS never undoes it.
 */
@Injectable()
export class AppointmentsService {
  constructor(
    @InjectRepository(Appointment) private readonly appointments: Repository<Appointment>,
    // The SMS sent about an appointment, through the port the SMS module provides (one door into SMS data).
    private readonly messages: RelatedMessages,
    private readonly phones: PhoneNumberService,
    private readonly policy: ReminderPolicy,
    private readonly events: DomainEvents,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async create(dto: CreateAppointmentDto, actor: Actor): Promise<Appointment> {
    this.assertFuture(dto.startsAt);
    const now = this.clock.now();
    const appointment = this.appointments.create({
      clientName: dto.clientName,
      clientPhone: this.phones.normalize(dto.clientPhone, { field: 'clientPhone', sms: true }),
      clientLocale: dto.clientLocale ?? 'fr',
      startsAt: dto.startsAt,
      durationMinutes: dto.durationMinutes ?? 30,
      location: dto.location || null,
      notes: dto.notes || null,
      status: AppointmentStatus.Pending,
      cancelReason: null,
      reminderDueAt: null,
      reminderSentAt: null,
      createdById: actor.id,
      createdByEmail: actor.email,
      createdAt: now,
      updatedAt: now,
    });
    await this.events.transaction(async ({ manager }) => {
      await manager.insert(Appointment, appointment);
      await this.journal(AuditAction.AppointmentCreated, appointment, actor, { startsAt: appointment.startsAt.toISOString() }, manager);
    });
    return this.get(appointment.id);
  }

  async list(query: ListAppointmentsQueryDto): Promise<Page<Appointment>> {
    const qb = this.appointments.createQueryBuilder('a');
    if (query.status) qb.andWhere('a.status = :status', { status: query.status });
    if (query.from) qb.andWhere('a.startsAt >= :from', { from: query.from });
    if (query.to) qb.andWhere('a.startsAt < :to', { to: query.to });
    if (query.phone) qb.andWhere('a.clientPhone = :phone', { phone: this.phones.normalize(query.phone, { field: 'phone' }) });
    return paginate(qb, query, 'startsAt', 'ASC');
  }

  async get(id: string): Promise<Appointment> {
    const appointment = await this.appointments.findOneBy({ id });
    if (!appointment) throw new NotFoundException(`No appointment with id ${id}`);
    return appointment;
  }

  async getWithMessages(id: string): Promise<Appointment & { messages: AppointmentMessage[]; delivery: DeliveryCounts }> {
    const appointment = await this.get(id);
    const messages = await this.messages.findRelated('appointment', id);
    return { ...appointment, messages, delivery: this.messages.deliveryCounts(messages) };
  }

  /**
   * The number a PATCH gives, in E.164. The number the appointment has already (a form sending every field back) is
   * taken as it is, even if it could not be accepted now (SMS_ALLOWED_COUNTRIES narrowed since): refusing it would
   * block every other edit. A new one must be able to receive SMS.
   */
  private newClientPhone(given: string, current: string): string {
    const e164 = this.phones.normalize(given, { field: 'clientPhone' });
    return e164 === current ? current : this.phones.normalize(given, { field: 'clientPhone', sms: true });
  }

  async update(id: string, dto: UpdateAppointmentDto, actor: Actor, attempt = 1): Promise<Appointment> {
    const current = await this.get(id);
    if (current.status === AppointmentStatus.Cancelled || current.status === AppointmentStatus.Completed) {
      throw this.conflict(current, 'edited');
    }
    const changes: Partial<Appointment> = {};
    if (dto.clientName !== undefined) changes.clientName = dto.clientName;
    if (dto.clientPhone !== undefined) changes.clientPhone = this.newClientPhone(dto.clientPhone, current.clientPhone);
    if (dto.clientLocale !== undefined) changes.clientLocale = dto.clientLocale;
    if (dto.durationMinutes !== undefined) changes.durationMinutes = dto.durationMinutes;
    if (dto.location !== undefined) changes.location = dto.location || null;
    if (dto.notes !== undefined) changes.notes = dto.notes || null;
    // A field given with the value it already has is no change (nor journaled as one).
    for (const key of Object.keys(changes) as (keyof typeof changes)[]) if (changes[key] === current[key]) delete changes[key];
    const moved = dto.startsAt !== undefined && dto.startsAt.getTime() !== current.startsAt.getTime();
    if (moved) {
      this.assertFuture(dto.startsAt!);
      changes.startsAt = dto.startsAt;
    }
    if (current.status === AppointmentStatus.Confirmed && (moved || changes.clientPhone !== undefined)) {
      // A new time or a new number gets a new reminder, even if the old one was already sent (a number is most often
      // corrected because the reminder failed or went to the wrong one). One still waiting is skipped (OUTDATED).
      changes.reminderDueAt = this.policy.dueAt(
        changes.startsAt ?? current.startsAt,
        this.clock.now(),
        changes.clientPhone ?? current.clientPhone,
      );
      changes.reminderSentAt = null;
    }
    if (Object.keys(changes).length === 0) return current;
    changes.updatedAt = this.clock.now();
    // What its SMS are written for changes (start or number): a new revision. A new name or place alone is none.
    const revised = moved || changes.clientPhone !== undefined;
    const updated = await this.events.transaction(async ({ manager, publish }) => {
      // Applies only to the row as read (status and start time): of identical reschedules sent at once, one moves
      // the appointment (one SMS, one journal entry); the others redo their edit below and find nothing to change.
      const result = await manager.update(
        Appointment,
        { id, status: current.status, startsAt: current.startsAt },
        { ...changes, ...(revised ? NEXT_REVISION : {}) },
      );
      if (!result.affected) return null;
      const updated = await manager.findOneByOrFail(Appointment, { id });
      await this.journal(
        AuditAction.AppointmentUpdated,
        updated,
        actor,
        {
          changed: Object.keys(changes).filter((k) => !['updatedAt', 'reminderDueAt', 'reminderSentAt'].includes(k)),
          ...(moved ? { previousStartsAt: current.startsAt.toISOString(), startsAt: updated.startsAt.toISOString() } : {}),
        },
        manager,
      );
      // A confirmed client's new number is sent the confirmation, at the time now, also when the same edit moves it:
      // its holder never had the appointment, so "moved to…" would not make sense to them. An SMS still waiting for
      // the old number is skipped (OUTDATED). A move alone tells the client's number the new time.
      if (changes.clientPhone !== undefined && updated.status === AppointmentStatus.Confirmed) {
        const appointment = snapshot(updated, await revisionOf(manager, id));
        await publish(APPOINTMENT_EVENTS.confirmed, { appointment, actor } satisfies AppointmentEvent);
      } else if (moved && updated.status === AppointmentStatus.Confirmed) {
        const event: AppointmentRescheduledEvent = {
          appointment: snapshot(updated, await revisionOf(manager, id)),
          actor,
          previousStartsAt: current.startsAt.toISOString(),
        };
        await publish(APPOINTMENT_EVENTS.rescheduled, event);
      }
      return updated;
    });
    if (!updated) {
      // Confirmed, cancelled or moved in between: redo the edit from what the row is now, so a reschedule of a
      // just-confirmed appointment also moves its reminder, and "previousStartsAt" is the time the client had.
      const latest = await this.get(id);
      const changed = latest.status !== current.status || latest.startsAt.getTime() !== current.startsAt.getTime();
      if (!changed || attempt >= MAX_EDIT_ATTEMPTS) throw this.conflict(latest, 'edited');
      return this.update(id, dto, actor, attempt + 1);
    }
    return updated;
  }

  async confirm(id: string, actor: Actor): Promise<Appointment> {
    // The reminder's due time comes from the start time read here, so the UPDATE applies only while
    // that is still the row's start time: a reschedule landing in between makes the confirm read the
    // new time and try again, instead of scheduling the reminder for the old one.
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(id);
      if (current.status !== AppointmentStatus.Pending) throw this.conflict(current, 'confirmed');
      if (current.startsAt.getTime() <= this.clock.now().getTime()) {
        throw new ConflictException({ message: 'This appointment is in the past and cannot be confirmed', currentStatus: current.status });
      }
      // The change, its journal entry and the event asking for the SMS: one transaction.
      const confirmed = await this.events.transaction(async ({ manager, publish }) => {
        const result = await manager.update(
          Appointment,
          { id, status: AppointmentStatus.Pending, startsAt: current.startsAt },
          {
            status: AppointmentStatus.Confirmed,
            reminderDueAt: this.policy.dueAt(current.startsAt, this.clock.now(), current.clientPhone),
            reminderSentAt: null,
            updatedAt: this.clock.now(),
            ...NEXT_REVISION,
          },
        );
        if (!result.affected) return null;
        const confirmed = await manager.findOneByOrFail(Appointment, { id });
        await this.journal(
          AuditAction.AppointmentConfirmed,
          confirmed,
          actor,
          { reminderDueAt: confirmed.reminderDueAt?.toISOString() ?? null },
          manager,
        );
        const event: AppointmentEvent = { appointment: snapshot(confirmed, await revisionOf(manager, id)), actor };
        await publish(APPOINTMENT_EVENTS.confirmed, event);
        return confirmed;
      });
      if (confirmed) return confirmed;
      if (attempt === 5) throw this.conflict(await this.get(id), 'confirmed');
    }
  }

  async cancel(id: string, reason: string | undefined, actor: Actor): Promise<Appointment> {
    // Applies only to the status read: confirmed meanwhile (pending → confirmed), it is read again and cancelled as
    // confirmed (its confirmation's SMS, not yet left, is dropped); cancelled or completed meanwhile, 409.
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(id);
      if (current.status !== AppointmentStatus.Pending && current.status !== AppointmentStatus.Confirmed)
        throw this.conflict(current, 'cancelled');
      const now = this.clock.now();
      const cancelled = await this.events.transaction(async ({ manager, publish }) => {
        const result = await manager.update(
          Appointment,
          { id, status: current.status },
          { status: AppointmentStatus.Cancelled, cancelReason: reason || null, reminderDueAt: null, updatedAt: now, ...NEXT_REVISION },
        );
        if (!result.affected) return null;
        const cancelled = await manager.findOneByOrFail(Appointment, { id });
        await this.journal(
          AuditAction.AppointmentCancelled,
          cancelled,
          actor,
          { reason: reason || null, previousStatus: current.status },
          manager,
        );
        const event: AppointmentCancelledEvent = {
          appointment: snapshot(cancelled, await revisionOf(manager, id)),
          actor,
          reason: reason || null,
          cancelledAt: now.toISOString(),
        };
        await publish(APPOINTMENT_EVENTS.cancelled, event);
        return cancelled;
      });
      if (cancelled) return cancelled;
      // A status changes at most twice (pending → confirmed → cancelled or completed): the loop ends before this.
      if (attempt >= MAX_EDIT_ATTEMPTS) {
        const latest = await this.get(id);
        if (latest.status !== AppointmentStatus.Pending && latest.status !== AppointmentStatus.Confirmed)
          throw this.conflict(latest, 'cancelled');
        throw new ConflictException({
          message: 'This appointment kept changing while being cancelled; try again',
          currentStatus: latest.status,
        });
      }
    }
  }

  /**
   * Marks an appointment that has taken place as done: pending or confirmed, once its start has passed (409 before,
   * or once cancelled or completed). No SMS; its reminder is dropped, and an SMS about it still waiting is skipped
   * (OUTDATED: its status changed). Journaled as `appointment_completed`.
   */
  async complete(id: string, actor: Actor, attempt = 1): Promise<Appointment> {
    const current = await this.get(id);
    if (current.status !== AppointmentStatus.Pending && current.status !== AppointmentStatus.Confirmed)
      throw this.conflict(current, 'completed');
    const now = this.clock.now();
    if (current.startsAt.getTime() > now.getTime())
      throw new ConflictException({
        message: 'This appointment has not started yet and cannot be completed',
        currentStatus: current.status,
      });
    const completed = await this.events.transaction(async ({ manager }) => {
      const result = await manager.update(
        Appointment,
        // As read: moved (to a later time) or confirmed meanwhile, it is looked at again.
        { id, status: current.status, startsAt: current.startsAt },
        { status: AppointmentStatus.Completed, reminderDueAt: null, updatedAt: now, ...NEXT_REVISION },
      );
      if (!result.affected) return null;
      const completed = await manager.findOneByOrFail(Appointment, { id });
      await this.journal(AuditAction.AppointmentCompleted, completed, actor, { previousStatus: current.status }, manager);
      return completed;
    });
    if (completed) return completed;
    if (attempt === 5) throw this.conflict(await this.get(id), 'completed');
    return this.complete(id, actor, attempt + 1);
  }

  private assertFuture(startsAt: Date): void {
    if (startsAt.getTime() <= this.clock.now().getTime()) {
      throw new BadRequestException({
        message: 'startsAt must be in the future',
        details: [{ field: 'startsAt', problems: ['startsAt must be in the future'] }],
      });
    }
  }

  private conflict(current: Appointment, verb: string): ConflictException {
    return new ConflictException({ message: `A ${current.status} appointment cannot be ${verb}`, currentStatus: current.status });
  }

  /** The journal entry of a change, written in the change's transaction. */
  private journal(
    action: AuditAction,
    appointment: Appointment,
    actor: Actor,
    metadata: Record<string, unknown>,
    manager: EntityManager,
  ): Promise<void> {
    return this.audit.record(
      {
        action,
        actor,
        target: { type: 'appointment', id: appointment.id },
        metadata: { clientPhone: appointment.clientPhone, status: appointment.status, ...metadata },
      },
      manager,
    );
  }
}

/** An appointment's revision (Appointment.revision, internal: not read with it), for its events' snapshots. */
export async function revisionOf(manager: EntityManager, id: string): Promise<number> {
  return (await manager.findOneOrFail(Appointment, { where: { id }, select: { id: true, revision: true } })).revision;
}

/** What an event tells of the appointment: as it is after the change, with its revision (`revision`). */
export function snapshot(a: Appointment, revision: number): AppointmentSnapshot {
  return {
    id: a.id,
    clientName: a.clientName,
    clientPhone: a.clientPhone,
    clientLocale: a.clientLocale,
    startsAt: a.startsAt.toISOString(),
    durationMinutes: a.durationMinutes,
    location: a.location,
    revision,
  };
}
