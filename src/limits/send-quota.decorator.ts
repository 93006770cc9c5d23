import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto.js';
import { SendQuotaInterceptor } from './send-quota.interceptor.js';
import { SEND_QUOTA_METADATA, type SendQuotaCount } from './send-quota.metadata.js';

/** One SMS per request: single and notification sends. */
export const oneSms: SendQuotaCount = () => 1;

/** A bulk counts its recipients as given (before duplicates and invalid numbers are set aside). */
export const bulkRecipients: SendQuotaCount = (body) => {
  const recipients = (body as { recipients?: unknown } | null | undefined)?.recipients;
  return Array.isArray(recipients) ? Math.max(1, recipients.length) : 1;
};

/**
 * An appointment edit counts one SMS when it may text the client (a move, a new number: a confirmed client is told);
 * a note, a place or a duration sends nothing and counts nothing.
 */
export const appointmentChange: SendQuotaCount = (body) => {
  const change = body as { startsAt?: unknown; clientPhone?: unknown } | null | undefined;
  return change && (change.startsAt !== undefined || change.clientPhone !== undefined) ? 1 : 0;
};

/**
 * The route counts against `SMS_USER_MAX_PER_MINUTE` (SendQuotaInterceptor): `count` says how many SMS the request
 * asks for (0: none, not counted). Past the limit: 429 with Retry-After, and the request is not run.
 */
export function SendQuota(count: SendQuotaCount = oneSms): MethodDecorator {
  return applyDecorators(
    SetMetadata(SEND_QUOTA_METADATA, count),
    UseInterceptors(SendQuotaInterceptor),
    ApiTooManyRequestsResponse({
      type: ErrorResponseDto,
      description:
        'More SMS than SMS_USER_MAX_PER_MINUTE allows this user this minute (a bulk counts its recipients; an appointment change that texts the client, one); see Retry-After',
    }),
  );
}
