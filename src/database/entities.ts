import { Appointment } from '../appointments/appointment.entity.js';
import { AuditLog } from '../audit/audit-log.entity.js';
import { DomainEvent } from '../events/domain-event.entity.js';
import { IdempotencyKey } from '../idempotency/idempotency-key.entity.js';
import { SmsBatch } from '../sms/sms-batch.entity.js';
import { SmsMessage } from '../sms/sms-message.entity.js';
import { SmsOptOut } from '../sms/opt-outs/sms-opt-out.entity.js';
import { InboundSms } from '../sms/webhooks/inbound-sms.entity.js';
import { SmsStatusEvent } from '../sms/webhooks/sms-status-event.entity.js';
import { User } from '../users/user.entity.js';

/** Every entity, listed explicitly (TypeORM's glob loading breaks under Vitest). */
export const ENTITIES = [
  User,
  AuditLog,
  SmsMessage,
  SmsBatch,
  Appointment,
  IdempotencyKey,
  SmsStatusEvent,
  InboundSms,
  SmsOptOut,
  DomainEvent,
];
