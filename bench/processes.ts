/**
 * Child processes and clean-up for the benchmarks: every process started here is stopped however
 * the run ends (normal end, error, SIGINT / SIGTERM), and clean-up steps run last-in, first-out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** A failure of the benchmark harness itself (as opposed to slow or failing answers). */
export class HarnessError extends Error {}

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void> | void> = [];

/** Registers a clean-up step; it runs once, at the latest when the run ends. */
export function onCleanup(step: () => Promise<void> | void): () => Promise<void> {
  let done: Promise<void> | undefined;
  const runOnce = (): Promise<void> => (done ??= Promise.resolve().then(step));
  cleanups.push(runOnce);
  return runOnce;
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      console.error(`clean-up: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/**
 * Runs a benchmark's main: its exit code becomes the process's, every clean-up step runs at the end,
 * and on SIGINT / SIGTERM as well (children stopped before the process exits).
 */
export async function runBenchmark(name: string, main: () => Promise<number>): Promise<void> {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping every child process and cleaning up`);
      void runCleanups().finally(() => process.exit(code));
    });
  }
  try {
    process.exitCode = await main();
  } catch (error) {
    const detail = error instanceof HarnessError ? error.message : error instanceof Error ? error.stack : String(error);
    console.error(`\n${name} failed: ${detail}`);
    process.exitCode = 1;
  } finally {
    await runCleanups();
  }
}

// Last resort when the process exits without awaiting runCleanups (process.exit elsewhere).
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** The variables a child needs to run at all; everything else is passed explicitly. */
export function baseEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'SystemRoot'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}

function exitReason(child: ChildProcess): string {
  return child.signalCode ? `killed by ${child.signalCode}` : `exited with code ${child.exitCode}`;
}

function track(child: ChildProcess): () => Promise<void> {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return onCleanup(() => stopChild(child));
}

/** SIGTERM (the app closes gracefully on it), SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface TsChild<Ready> {
  child: ChildProcess;
  ready: Ready;
  stop(): Promise<void>;
}

/**
 * Runs a TypeScript file of bench/ in a child process with this process's loader (same execArgv),
 * and waits for its `{ type: 'ready', ... }` IPC message.
 */
export async function startTsChild<Ready>(file: URL, env: NodeJS.ProcessEnv, name: string): Promise<TsChild<Ready>> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(file)], {
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const stop = track(child);
  const ready = await new Promise<Ready>((resolve, reject) => {
    const settle = (outcome: () => void) => {
      clearTimeout(timer);
      outcome();
    };
    const timer = setTimeout(() => reject(new HarnessError(`${name} did not start within 30 s`)), 30_000);
    child.on('message', (message: { type?: string }) => {
      if (message.type === 'ready') settle(() => resolve(message as Ready));
    });
    child.once('exit', () => settle(() => reject(new HarnessError(`${name} ${exitReason(child)} before it was ready`))));
  });
  return { child, ready, stop };
}

/** Sends `message` to a child and resolves with its next message of type `replyType`. */
export function ask<Reply>(child: ChildProcess, message: object, replyType: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: { type?: string }) => {
      if (reply.type !== replyType) return;
      child.off('message', onMessage);
      resolve(reply as Reply);
    };
    child.on('message', onMessage);
    child.send(message, (error) => error && reject(error));
  });
}

export interface AppProcess {
  child: ChildProcess;
  /** The last lines the app printed (stdout and stderr), to explain a failure. */
  tail(): string;
  stop(): Promise<void>;
}

/**
 * `node <main>` with exactly `env`, its output kept (last 40 lines) rather than printed. `nodeArgs` go
 * before the script (e.g. `--cpu-prof --cpu-prof-dir <dir>`: the profile is written when the app exits).
 */
export function startApp(main: string, env: NodeJS.ProcessEnv, cwd: string, nodeArgs: string[] = []): AppProcess {
  const child = spawn(process.execPath, [...nodeArgs, main], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = track(child);
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, stop, tail: () => lines.map((l) => `  | ${l}`).join('\n') };
}

/** Polls `url` until it answers 200; fails early if the process dies. */
export async function waitForOk(url: string, app: AppProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (app.child.exitCode !== null || app.child.signalCode !== null) {
      throw new HarnessError(`the app ${exitReason(app.child)} while starting:\n${app.tail()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new HarnessError(`${url} not ready after ${timeoutMs / 1000} s (${last}):\n${app.tail()}`);
}

/** A port free right now on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
