import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory.js';
import { ConfigValidationError } from './config/env.validation.js';
import { loadConfigFromProcess } from './config/process-config.js';
import { installCrashHandlers } from './logging/crash-handlers.js';
import { safeErrorText } from './logging/log-redaction.js';

/** The host of the printed URL: localhost when listening on every interface, else the address itself. */
function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

async function bootstrap(): Promise<void> {
  // Validated once, before Nest starts: a bad variable is one line, not Nest's logged stack trace,
  // and this AppConfig instance is the one the whole app uses.
  const config = loadConfigFromProcess();
  const app = await createApp({ config });
  await app.listen({ port: config.port, host: config.host });
  // The port bound: PORT=0 asks the system for a free one.
  const address = app.getHttpServer().address();
  const url = `http://${displayHost(config.host)}:${typeof address === 'object' && address ? address.port : config.port}`;
  const logger = new Logger('Bootstrap');
  const docs = config.apiDocsEnabled ? `Swagger UI: ${url}/api/docs` : 'no API docs: API_DOCS_ENABLED=false';
  logger.log(`Listening on ${url} (${docs}, database: ${config.database.type})`);

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
          // The logger may be closed with the app: printed directly, masked as the logger would.
          console.error(`Shutdown failed: ${safeErrorText(error)}`);
          process.exit(1);
        },
      );
    });
  }
}

// A crash (an exception nothing caught, a rejection nothing handled) still exits 1, its line masked as the logs are.
installCrashHandlers();

bootstrap().catch((error: unknown) => {
  // A bad environment is a one-line message, not a stack trace, printed directly (the logger may not exist yet) and as
  // written: its problems are our own texts, whose limits and quoted values (a setting's, never a client's) must stay
  // readable (masking would turn `not greater than 604800000` into digits and stars). Any other error may be a driver's
  // or an SDK's text naming a number: masked as the logger would.
  if (error instanceof ConfigValidationError) {
    console.error(error.message);
  } else {
    console.error(`Failed to start: ${safeErrorText(error)}`);
  }
  process.exit(1);
});
