import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** The raw Accept-Language header, read without declaring a second (required) header parameter in OpenAPI. */
export const AcceptLanguage = createParamDecorator((_data: unknown, context: ExecutionContext): string | undefined => {
  const value = context.switchToHttp().getRequest<FastifyRequest>().headers['accept-language'];
  return typeof value === 'string' ? value : undefined;
});
