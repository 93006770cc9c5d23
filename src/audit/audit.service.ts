import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import type { Actor } from '../common/actor.js';
import { Page, paginate } from '../common/dto/pagination.dto.js';
import { AuditAction } from './audit-action.enum.js';
import { InsertBatcher } from '../database/insert-batcher.js';
import { AuditLog } from './audit-log.entity.js';
import { ListAuditQueryDto } from './dto/list-audit-query.dto.js';

export interface AuditEntry {
  action: AuditAction;
  /** Who acted; null for the system itself (scheduler) or an unknown caller (failed sign-in). */
  actor: Partial<Actor> | null;
  target?: { type: string; id: string | null };
  metadata?: Record<string, unknown>;
  ip?: string | null;
}

/** The one way every module journals what happened. */
@Injectable()
export class AuditService {
  // Concurrent entries share one INSERT (group commit); each caller still waits for its own row.
  private readonly batcher: InsertBatcher<AuditLog>;

  constructor(@InjectRepository(AuditLog) private readonly logs: Repository<AuditLog>) {
    this.batcher = new InsertBatcher(logs);
  }

  /**
   * Journals one entry. With `manager` (a transaction's EntityManager) the entry is written inside that
   * transaction, so it is committed or rolled back with the change it describes; without it, the entry
   * is group-committed on its own. Inside a transaction, always pass its manager (on SQLite a write from
   * outside an open transaction waits for its end, see runTransaction).
   */
  async record(entry: AuditEntry, manager?: EntityManager): Promise<void> {
    if (manager) await manager.insert(AuditLog, { id: randomUUID(), ...this.toRow(entry) });
    else await this.batcher.insert({ id: randomUUID(), ...this.toRow(entry) });
  }

  /** Builds the row without writing it, for callers that insert inside their own transaction. */
  toRow(entry: AuditEntry): Partial<AuditLog> {
    return {
      action: entry.action,
      actorId: entry.actor?.id ?? null,
      actorEmail: entry.actor?.email ?? null,
      actorRole: entry.actor?.role ?? null,
      targetType: entry.target?.type ?? null,
      targetId: entry.target?.id ?? null,
      metadata: entry.metadata ?? null,
      ip: entry.ip ?? entry.actor?.ip ?? null,
      // Set here, not by the database: SQLite's default has whole seconds, too coarse for "newest first".
      createdAt: new Date(),
    };
  }

  async list(query: ListAuditQueryDto): Promise<Page<AuditLog>> {
    const qb = this.logs.createQueryBuilder('log');
    if (query.action) qb.andWhere('log.action = :action', { action: query.action });
    if (query.actor) {
      // `actor` is an id or an email; both are stored lower-case (UUIDs as the database and randomUUID write them).
      qb.andWhere(query.actor.includes('@') ? 'log.actorEmail = :actor' : 'log.actorId = :actor', { actor: query.actor.toLowerCase() });
    }
    if (query.from) qb.andWhere('log.createdAt >= :from', { from: query.from });
    if (query.to) qb.andWhere('log.createdAt < :to', { to: query.to });
    return paginate(qb, query, 'createdAt', 'DESC');
  }
}
