/**
 * Child process of bench/send.ts: the loopback Twilio stand-in, answering at once. It gets its own
 * process so that serving Twilio calls does not share an event loop with the load generator.
 *
 * IPC: sends `{ type: 'ready', baseUrl }` once listening; answers `{ type: 'take' }` with
 * `{ type: 'taken', messages }` (messages created since the last take) and forgets them, which also
 * keeps memory flat over long runs. bench/bulk.ts also sends `{ type: 'behave', behaviour }` (answered
 * `behaved`) and `{ type: 'stats' }`, answered `{ type: 'stats', messages, duplicates, peakInFlight,
 * peakCreatesPerSecond, firstCreate, lastCreate }` since the last take.
 */
import { TwilioStandIn, testTwilioCredentials, type StandInBehaviour } from '../test/support/twilio-stand-in.js';

const standIn = await TwilioStandIn.start({ ...testTwilioCredentials(), recordRequests: false });

process.on('message', (message: { type?: string; behaviour?: StandInBehaviour }) => {
  if (message.type === 'behave') {
    standIn.setBehaviour(message.behaviour ?? {});
    process.send?.({ type: 'behaved' });
    return;
  }
  if (message.type === 'stats') {
    const recipients = new Set(standIn.messages.map((m) => m.to));
    process.send?.({
      type: 'stats',
      messages: standIn.messages.length,
      duplicates: standIn.messages.length - recipients.size,
      peakInFlight: standIn.peakInFlight,
      peakCreatesPerSecond: standIn.peakCreatesPerSecond(),
      firstCreate: standIn.createTimes[0] ?? null,
      lastCreate: standIn.createTimes.at(-1) ?? null,
    });
    return;
  }
  if (message.type !== 'take') return;
  const messages = standIn.messages.length;
  standIn.reset();
  process.send?.({ type: 'taken', messages });
});

// The parent gone (even killed without cleanup) means the benchmark is over.
process.on('disconnect', () => void standIn.stop().finally(() => process.exit(0)));

process.send?.({ type: 'ready', baseUrl: standIn.baseUrl });
