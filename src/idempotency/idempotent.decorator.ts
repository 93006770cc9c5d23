import { applyDecorators, SetMetadata, type Type } from '@nestjs/common';
import { ApiConflictResponse, ApiHeader, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto.js';

export const IDEMPOTENT_METADATA = 'idempotency:enabled';

const STILL_RUNNING = 'A request with this Idempotency-Key is still running; see Retry-After';
/** The 422 of a key used again with another body or on another route (a route with its own 422 adds it to its description). */
export const KEY_REUSED = 'This Idempotency-Key was already used with another request (another body or route)';

/**
 * The route honours an `Idempotency-Key` header (IdempotencyInterceptor): the same key and body replay the
 * first answer with `Idempotency-Replayed: true`; another body → 422; still running → 409 + Retry-After.
 * `conflict`: the route's own 409, documented with it (one OpenAPI answer per status). `ownUnprocessable`: the route
 * documents its own 422 and names KEY_REUSED in it; otherwise the 422 is documented here.
 */
export function Idempotent(
  conflict?: { type: Type<unknown>; description: string },
  options: { ownUnprocessable?: boolean } = {},
): MethodDecorator {
  return applyDecorators(
    SetMetadata(IDEMPOTENT_METADATA, true),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'Optional, at most 255 characters, unique per request (e.g. a UUID). Kept 24 h per user: a retry with the same key and body ' +
        'gets the first answer again (header Idempotency-Replayed: true) and sends nothing; the same key with another body → 422; ' +
        'longer than 255 characters → 400.',
    }),
    ApiConflictResponse(
      conflict
        ? {
            type: conflict.type,
            description: `${conflict.description}; or: ${STILL_RUNNING}`,
          }
        : { type: ErrorResponseDto, description: STILL_RUNNING },
    ),
    ...(options.ownUnprocessable ? [] : [ApiUnprocessableEntityResponse({ type: ErrorResponseDto, description: KEY_REUSED })]),
  );
}
