import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort } from './support/free-port.js';
import { TestApp } from './support/test-app.js';

const ROOT = join(import.meta.dirname, '..');

/**
 * `npm run twilio:stand-in`, as the README's "Try it" runs it: the script starts, prints the settings to start the
 * service with, and the service sends through it (the real SDK), each message printed by the script.
 */
describe('npm run twilio:stand-in', () => {
  let child: ChildProcess | undefined;
  let t: TestApp | undefined;
  afterAll(async () => {
    await t?.close();
    if (child?.pid && child.exitCode === null) {
      // npm and the script it started: the whole process group, as Ctrl-C in a terminal stops both.
      const exited = once(child, 'exit');
      process.kill(-child.pid, 'SIGTERM');
      await exited;
    }
  });

  it('prints the settings for the service, takes its sends through the Twilio SDK, and prints each message', async () => {
    const port = await freePort();
    child = spawn('npm', ['run', '--silent', 'twilio:stand-in'], {
      cwd: ROOT,
      env: { ...process.env, STAND_IN_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    await vi.waitFor(() => expect(output).toMatch(/npm start\n/), { timeout: 60_000, interval: 100 });
    const settings = Object.fromEntries([...output.matchAll(/(TWILIO_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
    expect(settings).toMatchObject({ TWILIO_API_BASE_URL: `http://127.0.0.1:${port}`, TWILIO_PHONE_NUMBER: '+33700000000' });

    t = await TestApp.start('sqlite', settings);
    const auth = { Authorization: `Bearer ${await t.rootToken()}` };
    const sent = await t.http.post('/api/sms/send').set(auth).send({ to: '06 12 34 56 78', message: 'Bonjour, à demain.' }).expect(201);
    expect(sent.body).toMatchObject({ state: 'sent', provider: 'twilio', sid: expect.stringMatching(/^SM/) });
    const refused = await t.http.post('/api/sms/send').set(auth).send({ to: '+15005550001', message: 'Bonjour' }).expect(400);
    expect(refused.body).toMatchObject({ code: '21211' });
    await vi.waitFor(() => expect(output).toContain(`message ${sent.body.sid} to +33612345678: Bonjour, à demain.`), {
      timeout: 5_000,
      interval: 100,
    });
  }, 90_000);
});
