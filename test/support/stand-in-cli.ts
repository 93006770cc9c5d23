/**
 * `npm run twilio:stand-in`: the Twilio stand-in the tests use, on its own, to try the service's Twilio path by hand
 * with no Twilio account and no network: start it, start the service with the settings it prints, and send.
 * Twilio's magic numbers answer as with Twilio's test credentials (`+15005550001` → 21211, `+15005550009` → 21614,
 * `+15005550004` → 21610…; TWILIO_PHONE_NUMBER=+15005550008 → 21611). Each message it takes is printed on one line.
 * STAND_IN_PORT (default 4010) picks its port on 127.0.0.1. Stop it with Ctrl-C.
 */
import { testTwilioCredentials, TwilioStandIn } from './twilio-stand-in.js';

const credentials = testTwilioCredentials();
const port = Number(process.env.STAND_IN_PORT ?? 4010);
const standIn = await TwilioStandIn.start({ ...credentials, port });

process.stdout.write(
  [
    `Twilio stand-in listening on ${standIn.baseUrl}. Start the service with:`,
    `TWILIO_ACCOUNT_SID=${credentials.accountSid} TWILIO_AUTH_TOKEN=${credentials.authToken} ` +
      `TWILIO_PHONE_NUMBER=+33700000000 TWILIO_API_BASE_URL=${standIn.baseUrl} npm start`,
    '',
  ].join('\n'),
);

let shown = 0;
setInterval(() => {
  for (const message of standIn.messages.slice(shown)) process.stdout.write(`message ${message.sid} to ${message.to}: ${message.body}\n`);
  shown = standIn.messages.length;
}, 200);

const stop = () => void standIn.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
