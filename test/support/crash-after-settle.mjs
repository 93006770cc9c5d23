// Preloaded into a spawned app (`node --import <this file> dist/main.js`, cwd: the build) by
// test/outbox-crash.e2e-spec.ts: the process kills itself with SIGKILL right after a commit, before anything
// else runs. No code of the app knows about it.
// - CRASH_AFTER_SETTLE_TEMPLATE: after SmsOutbox.settle has committed the sent outcome of a message whose
//   template is this one (with its event and journal entry), before the relay delivers its event.
// - CRASH_AFTER_BATCH_END=1: after the commit that ends a bulk batch (SmsOutbox.settle of its last message,
//   SmsOutbox.cancelMessage of its last message, or SmsOutbox.cancelBatch with nothing in flight), before
//   the code that called it goes on.
import 'reflect-metadata';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const template = process.env.CRASH_AFTER_SETTLE_TEMPLATE;
const batchEnd = process.env.CRASH_AFTER_BATCH_END === '1';
if (template || batchEnd) {
  const { SmsOutbox } = await import(pathToFileURL(join(process.cwd(), 'dist/sms/dispatch/sms-outbox.js')).href);
  const die = () => process.kill(process.pid, 'SIGKILL');
  const settle = SmsOutbox.prototype.settle;
  SmsOutbox.prototype.settle = async function (message, attempt, settlement, ...rest) {
    const result = await settle.call(this, message, attempt, settlement, ...rest);
    if (template && result.applied && settlement.kind === 'sent' && message.templateType === template) die();
    if (batchEnd && result.finishedBatchId) die();
    return result;
  };
  if (batchEnd) {
    const cancelMessage = SmsOutbox.prototype.cancelMessage;
    SmsOutbox.prototype.cancelMessage = async function (...args) {
      const result = await cancelMessage.apply(this, args);
      if (result.finishedBatchId) die();
      return result;
    };
    const cancelBatch = SmsOutbox.prototype.cancelBatch;
    SmsOutbox.prototype.cancelBatch = async function (...args) {
      const result = await cancelBatch.apply(this, args);
      if (result.finished) die();
      return result;
    };
  }
}
