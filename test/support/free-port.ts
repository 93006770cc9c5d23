import { once } from 'node:events';
import net from 'node:net';

/** A TCP port free on 127.0.0.1 right now (the OS picks it), for a process the test starts. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * `start(port)` on a port freePort found, again on another (three tries in all) when it fails with EADDRINUSE: the port
 * can be taken between freePort and the process's listen (another test file's socket given it as its own local port).
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await start(await freePort());
    } catch (error) {
      if (tries >= 3 || !String(error).includes('EADDRINUSE')) throw error;
    }
  }
}
