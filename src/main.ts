import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory.js';
import { ConfigValidationError } from './config/env.validation.js';
import { loadConfigFromProcess } from './config/process-config.js';

async function bootstrap(): Promise<void> {
  // Validated once, before Nest starts: a bad variable is one line, not Nest's logged stack trace,
  // and this AppConfig instance is the one the whole app uses.
  const config = loadConfigFromProcess();
  const app = await createApp({ config });
  await app.listen({ port: config.port, host: '0.0.0.0' });
  // The port bound: PORT=0 asks the system for a free one.
  const address = app.getHttpServer().address();
  const url = `http://localhost:${typeof address === 'object' && address ? address.port : config.port}`;
  const logger = new Logger('Bootstrap');
  logger.log(`Listening on ${url} (Swagger UI: ${url}/api/docs, database: ${config.database.type})`);

  // Graceful shutdown: stop accepting requests, let those in flight finish, stop the reminder
  // scanner, close the database, then exit 0.
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.log(`${signal} received: shutting down`);
      app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(`Shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
          process.exit(1);
        },
      );
    });
  }
}

bootstrap().catch((error: unknown) => {
  // A bad environment is a one-line message, not a stack trace.
  if (error instanceof ConfigValidationError) {
    console.error(error.message);
  } else {
    console.error(`Failed to start: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exit(1);
});
