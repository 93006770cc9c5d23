import { CallHandler, ExecutionContext, HttpException, Injectable, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { catchError, from, Observable, switchMap, throwError } from 'rxjs';
import type { AuthenticatedUser } from '../common/actor.js';
import { InputError } from '../common/errors/mapped-error.js';
import { SEND_QUOTA_METADATA, type SendQuotaCount } from './send-quota.metadata.js';
import { SendQuotaService } from './send-quota.service.js';

/**
 * Whether an error refused the request before any SMS was stored or sent: the validation pipe's 400, a service's
 * InputError (a bad number, template data, recipients), an appointment route's 404 or 409 (no such appointment, a
 * transition it cannot make). Not a provider's refusal answered as 400 (Twilio's 21211: the message was stored and
 * Twilio was called), nor an opted-out number's 409 (its attempt is stored and journaled).
 */
function refusedBeforeSending(error: unknown): boolean {
  if (error instanceof InputError) return true;
  return error instanceof HttpException && [400, 404, 409].includes(error.getStatus());
}

/**
 * Takes the request's SMS from the user's per-minute limit before the route runs (routes marked `@SendQuota`).
 * Method-scoped, so it runs after the global interceptors: an `Idempotency-Key` replay (or a 409 while the first
 * request runs, or a 422 for another body) is answered by IdempotencyInterceptor without reaching it and costs
 * nothing. Points taken by a request refused before anything was stored or sent (refusedBeforeSending) are given
 * back, into the window they were taken from (SendQuotaService.refund); a send Twilio refused (21211, answered 400 too)
 * keeps them: the call was made.
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
    const points = count(request.body);
    if (points < 1) return next.handle();
    return from(this.quota.take(userId, points)).pipe(
      switchMap((taken) =>
        next.handle().pipe(
          catchError((error: unknown) => {
            if (!taken || !refusedBeforeSending(error)) return throwError(() => error);
            // Into the window the points were taken from only: if it ended meanwhile, they are not given back.
            return from(this.quota.refund(userId, taken).catch(() => undefined)).pipe(switchMap(() => throwError(() => error)));
          }),
        ),
      ),
    );
  }
}
