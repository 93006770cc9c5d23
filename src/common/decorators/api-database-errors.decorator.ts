import { applyDecorators } from '@nestjs/common';
import { ApiGatewayTimeoutResponse, ApiServiceUnavailableResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from '../dto/error-response.dto.js';

/**
 * On a controller whose routes use the database: documents what they answer when it fails (AllExceptionsFilter,
 * database-errors.ts). A route that documents its own 503 or 504 (Twilio's) keeps its own description.
 */
export const ApiDatabaseErrors = () =>
  applyDecorators(
    ApiServiceUnavailableResponse({
      type: ErrorResponseDto,
      description: 'The database is unavailable or busy: nothing was stored; retry after Retry-After',
    }),
    ApiGatewayTimeoutResponse({
      type: ErrorResponseDto,
      description: 'The database did not answer a write: it may have been stored; check before retrying',
    }),
  );
