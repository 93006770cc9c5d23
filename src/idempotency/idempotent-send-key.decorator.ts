import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { IDEMPOTENCY_STATE, type IdempotentRequest } from './idempotency.interceptor.js';

/**
 * The dedupe key of what a request holding an `Idempotency-Key` writes (`idempotency:<claim id>`), undefined without
 * one. A claim taken over after its request died (IdempotencyService.claim) keeps its id: the run that takes over finds
 * the row or batch the dead one wrote instead of writing (and sending) a second one.
 */
export const IdempotentSendKey = createParamDecorator((_: unknown, context: ExecutionContext): string | undefined => {
  const ownerId = context.switchToHttp().getRequest<IdempotentRequest>()[IDEMPOTENCY_STATE]?.ownerId;
  return ownerId ? `idempotency:${ownerId}` : undefined;
});
