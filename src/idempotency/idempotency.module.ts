import { Logger, Module, OnModuleInit } from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { IdempotencyKey } from './idempotency-key.entity.js';
import { IDEMPOTENCY_STATE, IdempotencyInterceptor, IdempotentRequest, isFinalAnswer, REPLAYED_HEADER } from './idempotency.interceptor.js';
import { IdempotencyService } from './idempotency.service.js';

/**
 * Idempotency-Key for the routes marked `@Idempotent()`: the interceptor claims the key, and a Fastify onSend
 * hook sees the answer exactly as it leaves (status and body, whichever filter produced it) to store it, or
 * to send the stored answer in its place for a replay. The answer is stored before it is sent, so a client
 * that got it never finds the key still running.
 */
@Module({
  imports: [TypeOrmModule.forFeature([IdempotencyKey])],
  providers: [IdempotencyService, { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor }],
  exports: [IdempotencyService],
})
export class IdempotencyModule implements OnModuleInit {
  private readonly logger = new Logger('Idempotency');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly idempotency: IdempotencyService,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify?.addHook) return;
    fastify.addHook('onSend', async (request: IdempotentRequest, reply: FastifyReply, payload: unknown) => {
      const state = request[IDEMPOTENCY_STATE];
      if (!state) return payload;
      if (state.replay) {
        void reply.code(state.replay.status);
        void reply.header('content-type', 'application/json; charset=utf-8');
        void reply.header(REPLAYED_HEADER, 'true');
        return state.replay.body;
      }
      if (!state.ownerId) return payload;
      const ownerId = state.ownerId;
      state.ownerId = undefined;
      const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : null;
      try {
        if (body !== null && isFinalAnswer(reply.statusCode)) await this.idempotency.complete(ownerId, reply.statusCode, body);
        else if (state.takenOver) await this.idempotency.expire(ownerId);
        else await this.idempotency.release(ownerId);
      } catch (error) {
        // The answer still goes out; the claim's lease runs out and a retry then runs again.
        this.logger.error(`Could not store an idempotent answer: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        // Renewed until now (also while the answer was being stored), whether or not the client is still there.
        state.stopRenewing?.();
      }
      return payload;
    });
  }
}
