import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DomainEvent } from './domain-event.entity.js';
import { DomainEventRelay } from './domain-event-relay.js';
import { DomainEvents } from './domain-events.service.js';

/**
 * The transactional outbox of domain events. Global: a feature writes its change and its events in
 * one transaction through DomainEvents, and listens with @OnEvent(type, OUTBOX_LISTENER); neither
 * side imports the other's module.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([DomainEvent])],
  providers: [DomainEvents, DomainEventRelay],
  exports: [DomainEvents, DomainEventRelay],
})
export class EventsModule {}
