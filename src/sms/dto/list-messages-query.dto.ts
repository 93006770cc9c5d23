import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIsoDateTime, IsNotBefore } from '../../common/dto/iso-date.js';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';
import { IsOneOf, IsText, Optional } from '../../common/dto/validators.js';
import { SUPPORTED_LOCALES } from '../templates/template-catalog.js';
import { RENDERABLE_NOTIFICATION_TYPES } from '../templates/notification-types.js';
import { SmsKind, SMS_CANCELLED, SMS_SKIPPED } from '../sms-message.entity.js';
import { TWILIO_STATUSES } from '../webhooks/message-status.js';
import { DRY_RUN_STATUS } from '../providers/dry-run-sms.provider.js';
import { BATCH_STATES, type BatchState } from '../sms-batches.service.js';
import { SMS_CATEGORIES } from '../stats/stats-query.dto.js';

/** Every status a stored message can have: Twilio's, and ours before or instead of Twilio's. */
export const STORED_STATUSES = [...new Set<string>(['pending', ...TWILIO_STATUSES, SMS_CANCELLED, SMS_SKIPPED, DRY_RUN_STATUS])];
/** A message kind, or a notification type. */
export const MESSAGE_TYPES = [...Object.values(SmsKind), ...RENDERABLE_NOTIFICATION_TYPES];

// Filters carry a description, never an example: Swagger UI's "Try it out" would pre-fill it and filter the answer.
export class ListMessagesQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ type: String, maxLength: 32, description: 'Recipient, in any format (0612345678, +33612345678…)' })
  @Optional()
  @IsText({ max: 32 })
  phone?: string;

  @ApiPropertyOptional({
    type: String,
    enum: STORED_STATUSES,
    description:
      "The stored status: ours before Twilio has it (queued, sending), Twilio's after (its own queued, sent, delivered…), or failed, skipped, dry-run…",
  })
  @Optional()
  @IsOneOf(STORED_STATUSES)
  status?: string;

  @ApiPropertyOptional({
    enum: BATCH_STATES,
    description:
      "Our state, as in a batch's counts: queued or sending (still here, not at Twilio), sent (taken by Twilio, whatever its status), failed, cancelled, skipped",
  })
  @Optional()
  @IsOneOf(BATCH_STATES)
  state?: BatchState;

  @ApiPropertyOptional({
    type: String,
    enum: MESSAGE_TYPES,
    description: 'A notification type (appointment_confirmed…), or single / bulk / notification',
  })
  @Optional()
  @IsOneOf(MESSAGE_TYPES)
  type?: string;

  @ApiPropertyOptional({ enum: SMS_CATEGORIES, description: 'transactional, or marketing (held to the marketing hours)' })
  @Optional()
  @IsOneOf(SMS_CATEGORIES)
  category?: (typeof SMS_CATEGORIES)[number];

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Stored at or after this instant (ISO 8601, e.g. 2030-01-01T00:00:00Z)',
  })
  @Optional()
  @IsIsoDateTime()
  since?: Date;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description:
      "Stored before this instant (ISO 8601; excluded, as in the statistics: a date alone is that day's midnight, so `since=2030-01-15&until=2030-01-16` is one whole day)",
  })
  @Optional()
  @IsIsoDateTime()
  @IsNotBefore('since')
  until?: Date;
}

export class TemplatesQueryDto {
  @ApiPropertyOptional({
    maxLength: 10,
    description: `Language of the texts: ${SUPPORTED_LOCALES.join(' or ')}, or a tag of one (en-GB), as a notification's locale; without it, Accept-Language (en…) or French`,
  })
  @Optional()
  @IsText({ max: 10 })
  locale?: string;
}
