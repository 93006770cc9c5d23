import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import type { Statement } from '../database/atomic.js';
import { insertStatement } from '../database/insert-statement.js';
import { installSqliteGate, runTransaction } from '../database/transactions.js';
import { DomainEvent } from './domain-event.entity.js';
import { DomainEventRelay } from './domain-event-relay.js';

/** What a unit of work gets: the transaction's EntityManager, and `publish` to raise events in it. */
export interface UnitOfWork {
  readonly manager: EntityManager;
  /** Writes the event into the outbox inside this transaction; returns its id. */
  publish(type: string, payload: object): Promise<string>;
}

/**
 * Runs a change and the events it raises in one database transaction (the transactional outbox):
 * either the change, its journal entry and its events are all committed, or none is. After the
 * commit the relay is woken, so the events usually go out at once; if this process dies first, any
 * instance's relay delivers them at its next poll.
 */
@Injectable()
export class DomainEvents {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly relay: DomainEventRelay,
  ) {
    // SQLite: from boot on, statements wait for an open transaction rather than join it.
    installSqliteGate(dataSource);
  }

  async transaction<T>(work: (unit: UnitOfWork) => Promise<T>): Promise<T> {
    let published = 0;
    const result = await runTransaction(this.dataSource, async (manager) => {
      const unit: UnitOfWork = {
        manager,
        publish: async (type, payload) => {
          const id = await this.insert(manager, type, payload);
          published++;
          return id;
        },
      };
      return work(unit);
    });
    if (published) this.relay.wake();
    return result;
  }

  /** The outbox row itself (a method of its own so a test can make it fail). */
  async insert(manager: EntityManager, type: string, payload: object): Promise<string> {
    const row = newEvent(type, payload, new Date());
    await manager.insert(DomainEvent, row);
    return row.id;
  }

  /**
   * The same outbox rows as one multi-row INSERT, for a transaction written in raw SQL (Atomic's
   * generators: the SMS outbox's settlements). Yield it inside that transaction, then call `wake()`
   * once it is committed. At most a few hundred payloads per statement (bound-parameter limits).
   */
  insertStatement(type: string, payloads: object[], now = new Date()): Statement {
    return insertStatement(
      this.dataSource.getRepository(DomainEvent),
      payloads.map((payload) => newEvent(type, payload, now)),
    );
  }

  /** After a commit that wrote events with `insertStatement`: the relay delivers them soon. */
  wake(): void {
    this.relay.wake();
  }
}

function newEvent(type: string, payload: object, now: Date): DomainEvent {
  return Object.assign(new DomainEvent(), {
    id: randomUUID(),
    type,
    payload: payload as DomainEvent['payload'],
    createdAt: now,
    nextAttemptAt: now,
    leaseUntil: null,
    attempts: 0,
    lastError: null,
    processedAt: null,
  });
}
