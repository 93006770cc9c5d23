// Preloaded into a spawned app (`node --import <this file> dist/main.js`, cwd: the build) by
// test/outbox-crash.e2e-spec.ts: the process kills itself with SIGKILL right after SmsOutbox.settle has
// committed the sent outcome of a message whose template is CRASH_AFTER_SETTLE_TEMPLATE (with its event and
// journal entry), before anything else runs (relay delivery of its event). No code of the app knows about it.
import 'reflect-metadata';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const template = process.env.CRASH_AFTER_SETTLE_TEMPLATE;
if (template) {
  const { SmsOutbox } = await import(pathToFileURL(join(process.cwd(), 'dist/sms/dispatch/sms-outbox.js')).href);
  const settle = SmsOutbox.prototype.settle;
  SmsOutbox.prototype.settle = async function (message, attempt, settlement, ...rest) {
    const result = await settle.call(this, message, attempt, settlement, ...rest);
    if (result.applied && settlement.kind === 'sent' && message.templateType === template) process.kill(process.pid, 'SIGKILL');
    return result;
  };
}
