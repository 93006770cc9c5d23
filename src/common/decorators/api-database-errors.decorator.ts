import { applyDecorators } from '@nestjs/common';
import { ApiGatewayTimeoutResponse, ApiServiceUnavailableResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from '../dto/error-response.dto.js';

/** What a route answers when the database fails (AllExceptionsFilter, database-errors.ts). */
export const DATABASE_UNAVAILABLE_503 = 'The database is unavailable or busy: nothing was stored; retry after Retry-After';
export const DATABASE_NO_ANSWER_504 = 'The database did not answer a write: it may have been stored; check before retrying';

/**
 * On a controller whose routes use the database: documents its 503 and 504. A route that documents its own 503 or 504
 * (the SMS routes: Twilio's) keeps its own description, which names the database's too.
 */
export const ApiDatabaseErrors = () =>
  applyDecorators(
    ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: DATABASE_UNAVAILABLE_503 }),
    ApiGatewayTimeoutResponse({ type: ErrorResponseDto, description: DATABASE_NO_ANSWER_504 }),
  );
