import {
  BadRequestException,
  CallHandler,
  ConflictException,
  ExecutionContext,
  Injectable,
  NestInterceptor,
  UnprocessableEntityException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { from, Observable, of, switchMap } from 'rxjs';
import type { AuthenticatedUser } from '../common/actor.js';
import { IDEMPOTENT_METADATA } from './idempotent.decorator.js';
import { IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_RETRY_AFTER_SECONDS, IdempotencyService, requestHash } from './idempotency.service.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'Idempotency-Replayed';

/** What the interceptor leaves on the request for the onSend hook (see IdempotencyModule). */
export interface IdempotencyState {
  /** This request holds the key: its answer is stored (or the key released) when it is sent. */
  ownerId?: string;
  /** The claim was a dead request's, taken over: an answer not kept expires it rather than deleting it. */
  takenOver?: boolean;
  /** Replay this answer instead of what the route would send. */
  replay?: { status: number; body: string };
  /** Ends the renewal of the claim (IdempotencyService.hold), once its answer is stored or the key released. */
  stopRenewing?: () => void;
}

export const IDEMPOTENCY_STATE = Symbol('idempotency');
export type IdempotentRequest = FastifyRequest & { user?: AuthenticatedUser; [IDEMPOTENCY_STATE]?: IdempotencyState };

/**
 * Whether an answer is final for its key. 2xx and 4xx are (the same request would get the same answer), except
 * 429: the user's send limit (SMS_USER_MAX_PER_MINUTE) refused the request before it ran, so a retry with the
 * key after Retry-After runs it. 502 and 503 are not kept, so a retry with the key runs again: Twilio refused or
 * could not be reached, it rate-limited us, or our database was too busy to take the request. 500 and 504 are
 * kept: an unexpected error may have struck after the SMS went, and a provider timeout may hide a sent SMS, so
 * running the request again could send it twice.
 */
export function isFinalAnswer(status: number): boolean {
  return status !== 429 && status !== 502 && status !== 503;
}

/**
 * `Idempotency-Key` on routes marked `@Idempotent()` (guards have run: the key belongs to the signed-in user).
 * The claim is taken before the route runs; the answer is stored when it is sent (IdempotencyModule's onSend
 * hook), which also swaps in the stored answer for a replay.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly idempotency: IdempotencyService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http' || !this.reflector.get<boolean>(IDEMPOTENT_METADATA, context.getHandler())) return next.handle();
    const request = context.switchToHttp().getRequest<IdempotentRequest>();
    const header = request.headers[IDEMPOTENCY_HEADER];
    if (header === undefined) return next.handle();
    // Node joins a repeated header into one value ("a, b"): the raw headers tell.
    const given = countHeader(request.raw.rawHeaders, IDEMPOTENCY_HEADER);
    const key = this.validKey(given > 1 ? [String(header)] : header);
    const userId = request.user?.id;
    if (!userId) return next.handle();
    const hash = this.hash(request);
    return from(this.idempotency.claim(userId, key, hash)).pipe(
      switchMap((claim) => {
        switch (claim.kind) {
          case 'mismatch':
            throw new UnprocessableEntityException({
              message: 'This Idempotency-Key was already used with a different request (body or route): use a new key for a new request',
              details: [{ field: 'Idempotency-Key', problems: ['already used with a different request'] }],
            });
          case 'running':
            throw new ConflictException({
              message: 'A request with this Idempotency-Key is still being processed: retry once it has finished',
              headers: { 'Retry-After': String(IDEMPOTENCY_RETRY_AFTER_SECONDS) },
            });
          case 'replay':
            request[IDEMPOTENCY_STATE] = { replay: { status: claim.status, body: claim.body } };
            return of(null);
          case 'owner':
            // Renewed until the onSend hook has stored the answer or released the key (IdempotencyModule), however
            // long the route runs, not until the connection closes: a client that gave up (closing it) retries with
            // the key, and must get 409 while this request may still send the SMS.
            request[IDEMPOTENCY_STATE] = { ownerId: claim.id, takenOver: claim.takenOver, stopRenewing: this.idempotency.hold(claim.id) };
            return next.handle();
        }
      }),
    );
  }

  private validKey(header: string | string[]): string {
    const problem = Array.isArray(header)
      ? 'must be given once'
      : header.length === 0
        ? 'must not be empty'
        : header.length > IDEMPOTENCY_KEY_MAX_LENGTH
          ? `must be at most ${IDEMPOTENCY_KEY_MAX_LENGTH} characters`
          : null;
    if (problem) {
      throw new BadRequestException({
        message: `Idempotency-Key ${problem}`,
        details: [{ field: 'Idempotency-Key', problems: [`Idempotency-Key ${problem}`] }],
      });
    }
    return header as string;
  }

  private hash(request: IdempotentRequest): string {
    try {
      return requestHash(request.method, request.routeOptions.url ?? request.url, request.body);
    } catch {
      // Only a body nested deeper than the stack allows gets here.
      throw new BadRequestException('Request body is nested too deeply');
    }
  }
}

/** How many times a header was given (case-insensitive), from Node's flat `[name, value, …]` list. */
function countHeader(rawHeaders: readonly string[] | undefined, name: string): number {
  let count = 0;
  for (let i = 0; i < (rawHeaders?.length ?? 0); i += 2) if (rawHeaders![i].toLowerCase() === name) count++;
  return count;
}
