import net from 'node:net';
import { createApp } from '../src/app.factory.js';
import { PG_CONNECT_TIMEOUT_MS } from '../src/database/data-source.js';

/**
 * A PostgreSQL that accepts connections and never answers (a hung server, a network dropping packets): the boot
 * fails within PG_CONNECT_TIMEOUT_MS, saying which server, instead of waiting for ever (pg has no connection
 * timeout by default). An orchestrator then sees the process exit and can restart it. Needs no PostgreSQL.
 */
describe('PostgreSQL that never answers', () => {
  it('fails the boot within the connection timeout, naming the server and not the password', async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const started = Date.now();
      const outcome = await Promise.race([
        createApp({
          overrides: { DATABASE_URL: `postgres://postgres:s3cret-pw@127.0.0.1:${port}/test`, JWT_SECRET: 'j'.repeat(40) },
          ignoreEnvFile: true,
          logger: ['fatal'],
        }).then(
          async (app) => {
            await app.close();
            return 'booted';
          },
          (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
        ),
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), PG_CONNECT_TIMEOUT_MS + 10_000)),
      ]);
      const elapsed = Date.now() - started;

      expect(sockets.size, 'the app did connect to it').toBeGreaterThan(0);
      expect(outcome).toBeInstanceOf(Error);
      const message = (outcome as Error).message;
      expect(message).toContain(`Could not connect to PostgreSQL at 127.0.0.1:${port}`);
      expect(message).not.toContain('s3cret-pw');
      expect(elapsed).toBeGreaterThanOrEqual(PG_CONNECT_TIMEOUT_MS - 500);
      expect(elapsed).toBeLessThan(PG_CONNECT_TIMEOUT_MS + 10_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);
});
