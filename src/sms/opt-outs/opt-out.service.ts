import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { EntityManager, Repository } from 'typeorm';
import { AuditAction } from '../../audit/audit-action.enum.js';
import { AuditService } from '../../audit/audit.service.js';
import type { Actor } from '../../common/actor.js';
import { BatchLoader } from '../../common/batch-loader.js';
import { Clock } from '../../common/clock.js';
import { Page, PaginationQueryDto, toPage } from '../../common/dto/pagination.dto.js';
import { runTransaction } from '../../database/transactions.js';
import { PhoneNumberService } from '../../phone/phone-number.service.js';
import { OptOutSource, SmsOptOut } from './sms-opt-out.entity.js';

export interface OptOutRequest {
  source: OptOutSource;
  reason?: string | null;
  actor?: Actor | null;
}

/**
 * The list of numbers that must not be texted. Every send path asks `isOptedOut` / `check` before
 * writing a message; keywords, staff and Twilio's 21610 add to it; an opt-in keyword or staff remove
 * from it. Each change is journaled (sms_opt_out / sms_opt_in) in the transaction that makes it.
 */
@Injectable()
export class OptOutService {
  /** Look-ups made in the same event-loop turn share one query (a send asks twice: when written, when claimed). */
  private readonly lookups = new BatchLoader<string, SmsOptOut>((phones) => this.check(phones));

  constructor(
    @InjectRepository(SmsOptOut) private readonly optOuts: Repository<SmsOptOut>,
    private readonly phones: PhoneNumberService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  /**
   * The opt-out of this E.164 number, or null when it may be texted. Read from the table every time (never
   * cached: an opt-out counts from its commit on); concurrent look-ups are one `IN (…)` query per turn.
   */
  isOptedOut(e164: string): Promise<SmsOptOut | null> {
    return this.lookups.load(e164);
  }

  /**
   * The opted-out numbers among these (E.164), in one query whatever their number: the list is one parameter
   * (a PostgreSQL array, a JSON array read by SQLite's json_each), not one parameter per number.
   */
  async check(e164s: readonly string[]): Promise<Map<string, SmsOptOut>> {
    const found = new Map<string, SmsOptOut>();
    if (!e164s.length) return found;
    const unique = [...new Set(e164s)];
    const postgres = this.optOuts.manager.connection.driver.options.type === 'postgres';
    const rows = await this.optOuts
      .createQueryBuilder('o')
      .where(postgres ? 'o.phone = ANY(:phones)' : 'o.phone IN (SELECT value FROM json_each(:phones))', {
        phones: postgres ? unique : JSON.stringify(unique),
      })
      .getMany();
    for (const row of rows) found.set(row.phone, row);
    return found;
  }

  /**
   * Opts a number out; already opted out → the existing entry, unchanged (`created: false`).
   * With `manager`, inside that transaction (the caller's own writes commit or roll back with it).
   * Every change of one number's consent (a keyword, staff, Twilio's 21610) is taken in turn (consentTurn) and reads
   * the list inside its transaction: a staff removal under way and a STOP at the same moment end in one order or the
   * other, never with the STOP read as "already opted out" and the removal then lifting it.
   */
  async optOut(e164: string, request: OptOutRequest, manager?: EntityManager): Promise<{ optOut: SmsOptOut; created: boolean }> {
    const row = this.optOuts.create({
      id: randomUUID(),
      phone: e164,
      optedOutAt: this.clock.now(),
      source: request.source,
      reason: request.reason?.slice(0, 500) ?? null,
      actorId: request.actor?.id ?? null,
      actorEmail: request.actor?.email ?? null,
    });
    // The entry and its journal entry are committed together: an opt-out never stands unjournaled, and a
    // failed journal write leaves the number as it was (the caller, a STOP webhook included, gets the error).
    const write = async (manager: EntityManager) => {
      await this.consentTurn(manager, e164);
      const existing = await manager.findOneBy(SmsOptOut, { phone: e164 });
      if (existing) return existing;
      // The unique phone index still decides between writers that do not take turns (another version of the service).
      await manager.createQueryBuilder().insert().into(SmsOptOut).values(row).orIgnore().execute();
      const found = await manager.findOneBy(SmsOptOut, { phone: e164 });
      if (found?.id === row.id)
        await this.audit.record(
          {
            action: AuditAction.SmsOptOut,
            actor: request.actor ?? null,
            target: { type: 'sms_opt_out', id: row.id },
            metadata: { phone: e164, source: request.source, reason: row.reason },
          },
          manager,
        );
      return found;
    };
    const winner = manager ? await write(manager) : await runTransaction(this.optOuts.manager.connection, write);
    return { optOut: winner ?? row, created: winner?.id === row.id };
  }

  /**
   * Opts a number back in: the entry removed, or null when it was not opted out. With `manager`, inside that
   * transaction; in turn with the number's other consent changes (see optOut).
   */
  async optIn(
    e164: string,
    request: { source: 'keyword' | 'manual'; actor?: Actor | null },
    manager?: EntityManager,
  ): Promise<SmsOptOut | null> {
    // Removed and journaled together (see optOut).
    const remove = async (manager: EntityManager) => {
      await this.consentTurn(manager, e164);
      const existing = await manager.findOneBy(SmsOptOut, { phone: e164 });
      if (!existing) return null;
      const result = await manager.delete(SmsOptOut, { id: existing.id });
      if (!result.affected) return null;
      await this.audit.record(
        {
          action: AuditAction.SmsOptIn,
          actor: request.actor ?? null,
          target: { type: 'sms_opt_out', id: existing.id },
          metadata: { phone: e164, source: request.source, optedOutAt: existing.optedOutAt.toISOString(), optOutSource: existing.source },
        },
        manager,
      );
      return existing;
    };
    return manager ? remove(manager) : runTransaction(this.optOuts.manager.connection, remove);
  }

  /**
   * Waits for, then holds until the transaction ends, the turn of this number's consent changes: on PostgreSQL a
   * transaction lock on the number, so the next change reads this one's commit; SQLite runs one writing transaction at
   * a time already.
   */
  private async consentTurn(manager: EntityManager, e164: string): Promise<void> {
    if (manager.connection.driver.options.type === 'postgres')
      await manager.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sms-consent:${e164}`]);
  }

  async list(query: PaginationQueryDto & { phone?: string }): Promise<Page<SmsOptOut>> {
    const where = query.phone ? { phone: this.normalize(query.phone, 'phone') } : {};
    const [items, total] = await this.optOuts.findAndCount({
      where,
      order: { optedOutAt: 'DESC', id: 'DESC' },
      skip: (query.page - 1) * query.limit,
      take: query.limit,
    });
    return toPage(items, total, query);
  }

  /** Staff: record an opt-out given another way (a letter, a call, an alphanumeric sender). */
  addManual(phone: string, reason: string | undefined, actor: Actor) {
    return this.optOut(this.normalize(phone, 'phone'), { source: OptOutSource.Manual, reason: reason ?? null, actor });
  }

  /** Staff: remove a number from the list (404 when it is not on it); answers the removed entry. */
  async removeManual(phone: string, actor: Actor): Promise<SmsOptOut> {
    const e164 = this.normalize(phone, 'phone');
    const removed = await this.optIn(e164, { source: 'manual', actor });
    if (!removed) throw new NotFoundException(`${e164} is not on the opt-out list`);
    return removed;
  }

  /** Any written form of a number → E.164, or a 400 naming the field (PhoneNumberService.normalize). */
  normalize(phone: string, field: string): string {
    return this.phones.normalize(phone, { field });
  }
}
