import { DeliveryCountsDto } from '../../common/dto/delivery-counts.dto.js';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PageOf } from '../../common/dto/pagination.dto.js';
import { NOTIFICATION_TYPES } from '../templates/notification-types.js';

/** Why a queued message has not gone yet (its last attempt's error). */
export class SmsLastErrorDto {
  @ApiProperty({ example: '20429' })
  code: string;

  @ApiProperty({ example: 'Too Many Requests', description: "Twilio's own text (or this service's)" })
  message: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: 'Twilio limite le débit : trop de requêtes.',
    description: 'The code in plain words, in the language of Accept-Language (fr by default, en)',
  })
  explanation?: string | null;
}

/**
 * What a send answers (POST /api/sms/send and /api/sms/notification): 201 `state: sent` once Twilio took
 * it, 202 `state: queued` while it waits in the outbox (send later, retries, a slow answer), 200
 * `state: cancelled` if it was cancelled before it left.
 */
export class SmsSendResultDto {
  @ApiProperty({
    enum: ['sent', 'queued', 'cancelled'],
    description:
      'sent: Twilio took it (201); queued: not yet (202), poll GET /api/sms/messages/{id}; cancelled: cancelled before it left (200), nothing sent',
  })
  state: 'sent' | 'queued' | 'cancelled';

  @ApiProperty({ format: 'uuid', description: 'Our id of the stored message (GET /api/sms/messages/{id})' })
  id: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'SM0123456789abcdef0123456789abcdef',
    description: "Twilio's SID (SMDRYRUN… in dry-run); null while queued",
  })
  sid: string | null;

  @ApiProperty({ example: 'queued', description: "The provider's status once sent; ours (queued, sending) before" })
  status: string;

  @ApiProperty({ example: '+33612345678', description: 'The recipient, E.164' })
  to: string;

  @ApiProperty({ type: String, nullable: true, example: '+33700000000', description: 'The sender used' })
  from: string | null;

  @ApiProperty({ type: 'integer', example: 1 })
  segments: number;

  @ApiProperty({ enum: ['GSM-7', 'UCS-2'] })
  encoding: string;

  @ApiProperty({ type: [String], example: [], description: 'Characters that forced UCS-2' })
  ucs2Characters: string[];

  @ApiPropertyOptional({ example: 'UCS-2 because of ê: 2 segments (1 segment without it)' })
  encodingNote?: string;

  @ApiProperty({ example: 'twilio', description: 'twilio or dry-run' })
  provider: string;

  @ApiProperty({ example: 'Votre message SMS ici', description: 'The text sent (a notification: the rendered template)' })
  body: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Queued: when it may leave (sendAt, or the next retry)',
  })
  notBefore?: Date | null;

  @ApiPropertyOptional({ type: 'integer', description: 'Queued: calls to Twilio so far' })
  attempts?: number;

  @ApiPropertyOptional({ type: SmsLastErrorDto, nullable: true, description: 'Queued: why it has not gone yet' })
  lastError?: SmsLastErrorDto | null;
}

/** A bulk recipient refused before anything was written (bad number, body too long once personalised). */
export class BulkInvalidRecipientDto {
  @ApiProperty({ type: 'integer', example: 2, description: 'Position in `recipients`' })
  index: number;

  @ApiProperty({ example: '0612' })
  phone: string;

  @ApiPropertyOptional({ example: 'Jean Dupont' })
  name?: string;

  @ApiProperty({
    example: 'TOO_SHORT',
    description:
      "Why: the number's problem (NOT_A_NUMBER, INVALID_COUNTRY, TOO_SHORT, TOO_LONG, INVALID_LENGTH, INVALID_NUMBER, NOT_SMS_CAPABLE), COUNTRY_NOT_ALLOWED (SMS_ALLOWED_COUNTRIES), OPTED_OUT, NAME_PLACEHOLDER (the name holds {{ or }}), EMPTY_BODY or BODY_TOO_LONG once personalised",
  })
  code: string;

  @ApiProperty({ example: 'phone is too short' })
  message: string;
}

/** A bulk recipient whose number (once normalised) came earlier in the list: sent once. */
export class BulkDuplicateRecipientDto {
  @ApiProperty({ type: 'integer', example: 1 })
  index: number;

  @ApiProperty({ example: '06 12 34 56 78' })
  phone: string;

  @ApiProperty({ example: '+33612345678' })
  to: string;
}

/** What POST /api/sms/bulk answers (202): the batch is written; it is sent in the background. */
export class BulkAcceptedDto {
  @ApiProperty({ format: 'uuid', description: 'Follow it with GET /api/sms/bulk/{batchId}' })
  batchId: string;

  @ApiProperty({ enum: ['running', 'completed'], description: 'completed at once when nothing was valid' })
  status: string;

  @ApiProperty({ example: 'twilio' })
  provider: string;

  @ApiProperty({ type: 'integer', example: 3 })
  total: number;

  @ApiProperty({ type: 'integer', example: 2, description: 'Messages written (one per distinct valid number)' })
  queued: number;

  @ApiProperty({ type: 'integer', example: 2, description: 'Segments of all the messages written, each as personalised' })
  segments: number;

  @ApiProperty({ enum: ['GSM-7', 'UCS-2'], description: 'The encoding of the text as written (before {{name}} is filled in)' })
  encoding: string;

  @ApiProperty({ type: [String], example: [], description: 'Characters of the text as written that force UCS-2' })
  ucs2Characters: string[];

  @ApiPropertyOptional({
    example: 'UCS-2 because of ê: 2 segments (1 segment without it)',
    description: 'When the text as written is UCS-2',
  })
  encodingNote?: string;

  @ApiProperty({
    type: 'integer',
    example: 0,
    description: 'Messages written in UCS-2 (70 characters a segment), by their text or by their recipient’s name (é is GSM-7, ê is not)',
  })
  ucs2Messages: number;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'sendAt when given; for a marketing batch outside the allowed hours, when they open',
  })
  notBefore: Date | null;
  @ApiProperty({ enum: ['transactional', 'marketing'] }) category: string;
  @ApiProperty({ description: 'Marketing: whether SMS_MARKETING_STOP_MENTION was appended (it is in every message and its segments)' })
  stopMentionAppended: boolean;

  @ApiProperty({ type: [BulkInvalidRecipientDto] })
  invalid: BulkInvalidRecipientDto[];

  @ApiProperty({ type: [BulkDuplicateRecipientDto] })
  duplicates: BulkDuplicateRecipientDto[];
}

export class BatchCountsDto {
  @ApiProperty({ type: 'integer', description: 'Waiting (send later, retry backoff, or their turn)' }) queued: number;
  @ApiProperty({ type: 'integer', description: 'Being sent now' }) sending: number;
  @ApiProperty({ type: 'integer', description: 'Taken by Twilio (any of its statuses)' }) sent: number;
  @ApiProperty({ type: 'integer' }) failed: number;
  @ApiProperty({ type: 'integer' }) cancelled: number;
  @ApiProperty({ type: 'integer', description: 'Not sent: the number opted out before its message left' }) skipped: number;
}

/** GET /api/sms/bulk/{batchId}. */
export class BatchViewDto {
  @ApiProperty({ format: 'uuid' }) batchId: string;
  @ApiProperty({
    enum: ['running', 'completed', 'cancelled'],
    description: '`cancelled` once the batch was cancelled or every one of its messages was; `completed` when it ended otherwise',
  })
  status: string;
  @ApiProperty({ type: 'integer' }) total: number;
  @ApiProperty({ type: 'integer', description: 'Messages written' }) accepted: number;
  @ApiProperty({ type: 'integer' }) invalid: number;
  @ApiProperty({ type: 'integer' }) duplicates: number;
  @ApiProperty({ type: BatchCountsDto }) counts: BatchCountsDto;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { queued: 2 },
    description: "Twilio's statuses among the sent",
  })
  providerStatuses: Record<string, number>;
  @ApiProperty({ example: 0.5, description: 'Settled (sent, failed, cancelled, skipped) over accepted' }) progress: number;
  @ApiProperty({ type: DeliveryCountsDto, description: "How the messages went after the send (Twilio's status callbacks)" })
  delivery: DeliveryCountsDto;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) notBefore: Date | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When its waiting messages may leave (earliest notBefore): a batch sent later, or marketing messages held until the allowed hours open again; null when none waits',
  })
  nextSendAt: Date | null;
  @ApiProperty({ type: String, format: 'date-time' }) acceptedAt: Date;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) startedAt: Date | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finishedAt: Date | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) cancelledAt: Date | null;
}

export class PhoneProblemDto {
  @ApiProperty({ enum: ['NOT_A_NUMBER', 'INVALID_COUNTRY', 'TOO_SHORT', 'TOO_LONG', 'INVALID_LENGTH', 'INVALID_NUMBER'] })
  code: string;

  @ApiProperty({ example: 'is too short' })
  message: string;
}

export class FormatPhoneResultDto {
  @ApiProperty({ example: '0612345678' })
  input: string;

  @ApiProperty({ type: String, nullable: true, example: '+33612345678' })
  e164: string | null;

  @ApiProperty()
  valid: boolean;

  @ApiProperty({ type: String, nullable: true, example: 'FR' })
  country: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'MOBILE' })
  type: string | null;

  @ApiProperty({ type: String, nullable: true, example: '06 12 34 56 78' })
  national: string | null;

  @ApiProperty({ type: String, nullable: true, example: '+33 6 12 34 56 78' })
  international: string | null;

  @ApiPropertyOptional({ type: PhoneProblemDto, description: 'Why the number is not valid' })
  reason?: PhoneProblemDto;
}

export class TemplateFieldDto {
  @ApiProperty({ example: 'name' })
  name: string;

  @ApiProperty()
  required: boolean;

  @ApiPropertyOptional({ example: 'startsAt', description: 'Required unless this other field is given' })
  requiredUnless?: string;

  @ApiProperty({ example: 'Le nom du client' })
  description: string;

  @ApiProperty({ example: 'Jean Dupont' })
  example: string;
}

export class TemplateExampleDto {
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, example: { name: 'Jean Dupont' } })
  data: Record<string, string>;

  @ApiProperty({ example: 'Bonjour Jean Dupont, …' })
  text: string;
}

export class TemplateDescriptionDto {
  @ApiProperty({ enum: NOTIFICATION_TYPES })
  type: string;

  @ApiProperty()
  description: string;

  @ApiProperty({ type: [TemplateFieldDto] })
  fields: TemplateFieldDto[];

  @ApiProperty({ type: TemplateExampleDto })
  example: TemplateExampleDto;
}

/** A stored SMS (sms_messages). */
export class SmsMessageDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: '+33612345678' }) to: string;
  @ApiProperty({ type: String, nullable: true }) from: string | null;
  @ApiProperty() body: string;
  @ApiProperty({ enum: ['single', 'notification', 'bulk'] }) kind: string;
  @ApiProperty({ type: String, nullable: true, example: 'appointment_confirmed' }) templateType: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'fr' }) locale: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) batchId: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'appointment' }) relatedType: string | null;
  @ApiProperty({ type: String, nullable: true }) relatedId: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'The state of that record the message was written for (an appointment: status|start|number|revision, the revision counting changes of those three); it leaves only while the record is still in it (else skipped, OUTDATED)',
    example: 'confirmed|2030-10-05T10:00:00.000Z|+33612345678|1',
  })
  relatedVersion: string | null;
  @ApiProperty({ example: 'twilio' }) provider: string;
  @ApiProperty({ example: 'queued' }) status: string;
  @ApiProperty({ type: String, nullable: true }) providerSid: string | null;
  @ApiProperty({ type: String, nullable: true, example: '21211' }) errorCode: string | null;
  @ApiProperty({ type: String, nullable: true }) errorMessage: string | null;
  @ApiProperty({ type: 'integer' }) segments: number;
  @ApiProperty({ example: 'GSM-7' }) encoding: string;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) actorId: string | null;
  @ApiProperty({ type: String, nullable: true }) actorEmail: string | null;
  @ApiProperty({ type: String, nullable: true }) actorRole: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    example: '203.0.113.7',
    description: 'The IP of the request that asked for it; null once purged (RETENTION_DAYS)',
  })
  actorIp: string | null;
  @ApiProperty({ type: 'integer', description: 'Calls to Twilio so far' }) attempts: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Not sent before (creation, sendAt, or the next retry)' })
  notBefore: Date | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'While sending: the worker owns it until then' })
  leaseUntil: Date | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) lastAttemptAt: Date | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When its first call to Twilio started: while Twilio is down, it is retried past its attempts until SMS_OUTAGE_RETRY_MS after this',
  })
  firstAttemptAt: Date | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When it was cancelled while its last attempt’s outcome was unknown (errorCode TIMEOUT, CONNECTION_LOST, LEASE_EXPIRED, or a gateway’s bare 500, 502, 504): it is never sent again, but looked up at Twilio, then stored as sent (Twilio had it) or cancelled',
  })
  cancelRequestedAt: Date | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When Twilio took it' }) sentAt: Date | null;
  @ApiProperty({ type: String, nullable: true, description: 'The request or event that asked for it (e.g. event:<id>)' })
  dedupeKey: string | null;
  @ApiProperty({ enum: ['transactional', 'marketing'] }) category: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When data retention (RETENTION_DAYS) replaced the number, the text and the error text by [purged]; null until then',
  })
  purgedAt: Date | null;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;
}

/** One status Twilio reported for a message (status callback). */
export class SmsStatusHistoryEntryDto {
  @ApiProperty({ example: 'delivered' }) status: string;
  @ApiProperty({ type: String, nullable: true, example: '30003' }) errorCode: string | null;
  @ApiProperty({ type: String, nullable: true, description: "The error code in plain words, in the caller's language" })
  errorExplanation: string | null;
  @ApiProperty({ description: 'Whether it moved the message (false for a late or repeated status)' }) applied: boolean;
  @ApiProperty({ description: 'When the callback was received' }) at: Date;
}

/** One stored SMS with what happened to it after the send. */
export class SmsMessageDetailDto extends SmsMessageDto {
  @ApiProperty({ type: String, nullable: true, description: "errorCode in plain words, in the caller's language" })
  errorExplanation: string | null;
  @ApiProperty({ type: [SmsStatusHistoryEntryDto], description: 'The statuses Twilio reported, in the order they came' })
  history: SmsStatusHistoryEntryDto[];
}

export const SmsMessagePageDto = PageOf(SmsMessageDto, 'SmsMessagePageDto');
