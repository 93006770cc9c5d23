import { Foundation1764000000000 } from './1764000000000-foundation.js';
import { SmsMessages1764100000000 } from './1764100000000-sms-messages.js';
import { Appointments1764200000000 } from './1764200000000-appointments.js';
import { SmsOutbox1764300000000 } from './1764300000000-sms-outbox.js';
import { UserTokenVersion1764410000000 } from './1764410000000-user-token-version.js';
import { Timestamptz1764420000000 } from './1764420000000-timestamptz.js';
import { IdempotencyKeys1764420000001 } from './1764420000001-idempotency-keys.js';
import { DomainEvents1764430000000 } from './1764430000000-domain-events.js';
import { Retention1764460000000 } from './1764460000000-retention.js';
import { PartialSmsIndexes1764480000000 } from './1764480000000-partial-sms-indexes.js';
import { RedundantSmsIndexes1764470000000 } from './1764470000000-redundant-sms-indexes.js';
import { SmsDelivery1764450000000 } from './1764450000000-sms-delivery.js';
import { SmsDispatch1764440000000 } from './1764440000000-sms-dispatch.js';
import { SmsActorIp1764490000000 } from './1764490000000-sms-actor-ip.js';
import { SmsRelatedVersion1764500000000 } from './1764500000000-sms-related-version.js';
import { SmsOutboxLanes1764510000000 } from './1764510000000-sms-outbox-lanes.js';
import { SmsFirstAttempt1764520000000 } from './1764520000000-sms-first-attempt.js';
import { SmsCancelRequested1764530000000 } from './1764530000000-sms-cancel-requested.js';
import { AppointmentRevision1764540000000 } from './1764540000000-appointment-revision.js';

/** Every migration in order; TypeORM's glob loading breaks under Vitest, so they are listed here. */
export const MIGRATIONS = [
  Foundation1764000000000,
  SmsMessages1764100000000,
  Appointments1764200000000,
  SmsOutbox1764300000000,
  UserTokenVersion1764410000000,
  Timestamptz1764420000000,
  IdempotencyKeys1764420000001,
  DomainEvents1764430000000,
  SmsDispatch1764440000000,
  SmsDelivery1764450000000,
  Retention1764460000000,
  RedundantSmsIndexes1764470000000,
  PartialSmsIndexes1764480000000,
  SmsActorIp1764490000000,
  SmsRelatedVersion1764500000000,
  SmsOutboxLanes1764510000000,
  SmsFirstAttempt1764520000000,
  SmsCancelRequested1764530000000,
  AppointmentRevision1764540000000,
];
