import { CallHandler, ExecutionContext, HttpException, Injectable, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { catchError, from, Observable, switchMap, throwError } from 'rxjs';
import type { AuthenticatedUser } from '../common/actor.js';
import { MappedError } from '../common/errors/mapped-error.js';
import { SEND_QUOTA_METADATA, type SendQuotaCount } from './send-quota.metadata.js';
import { SendQuotaService } from './send-quota.service.js';

/** The HTTP status an error will be answered with, when it says so itself. */
function statusOf(error: unknown): number | undefined {
  if (error instanceof HttpException) return error.getStatus();
  if (error instanceof MappedError) return error.toHttp({}).status;
  return undefined;
}

/**
 * Takes the request's SMS from the user's per-minute limit before the route runs (routes marked `@SendQuota`).
 * Method-scoped, so it runs after the global interceptors: an `Idempotency-Key` replay (or a 409 while the first
 * request runs, or a 422 for another body) is answered by IdempotencyInterceptor without reaching it and costs
 * nothing. Points taken by a request refused as bad input (400: nothing was sent) are given back, into the window
 * they were taken from (SendQuotaService.refund).
 */
@Injectable()
export class SendQuotaInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly quota: SendQuotaService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const count = this.reflector.get<SendQuotaCount | undefined>(SEND_QUOTA_METADATA, context.getHandler());
    if (!count || !this.quota.enabled || context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: AuthenticatedUser }>();
    const userId = request.user?.id;
    if (!userId) return next.handle();
    const points = Math.max(1, count(request.body));
    return from(this.quota.take(userId, points)).pipe(
      switchMap((taken) =>
        next.handle().pipe(
          catchError((error: unknown) => {
            if (!taken || statusOf(error) !== 400) return throwError(() => error);
            // Into the window the points were taken from only: if it ended meanwhile, they are not given back.
            return from(this.quota.refund(userId, taken).catch(() => undefined)).pipe(switchMap(() => throwError(() => error)));
          }),
        ),
      ),
    );
  }
}
