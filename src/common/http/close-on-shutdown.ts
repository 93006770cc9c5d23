import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';

/** Set when the app starts shutting down (onModuleDestroy is the first hook `app.close()` runs). */
@Injectable()
export class ShutdownState implements OnModuleDestroy {
  closing = false;

  onModuleDestroy(): void {
    this.closing = true;
  }
}

/**
 * Once shutdown has begun, every answer carries `Connection: close`, so its connection ends with it. Fastify
 * adds that header only to requests that arrive after its own server began closing. A request already in
 * flight when the shutdown began (a send waiting on its message, answered when the dispatcher halts) would
 * otherwise leave its keep-alive connection open until Fastify's keepAliveTimeout (72 s): the server, and the
 * process, waited that long to exit.
 */
export function installCloseOnShutdown(app: NestFastifyApplication): void {
  const state = app.get(ShutdownState);
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  fastify.addHook('onSend', async (request, reply, payload) => {
    if (state.closing && request.raw.httpVersionMajor < 2) reply.header('Connection', 'close');
    return payload;
  });
}
