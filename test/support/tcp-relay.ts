import net from 'node:net';

/**
 * A TCP relay on 127.0.0.1 to `target` (a Redis or PostgreSQL URL) that can freeze: then no byte passes either way
 * and no connection closes (a hung server, a network dropping packets); what arrives meanwhile is held, and passes on
 * `thaw()`, which also lets waiting connections through. `freezeOn(needle, after?)` freezes at the first chunk sent to
 * the server that contains `needle` (on a connection that has already carried `after`, when given), and drops that
 * chunk (the server never sees that statement). `stop()` closes every
 * connection and refuses new ones. `port`: where it listens (0: any free port; a stopped relay's port, to bring
 * that server back).
 */
export async function freezableRelay(target: URL, defaultPort: number, port = 0) {
  let frozen = false;
  let needle: string | undefined;
  let after: string | undefined;
  /** Connections that have carried `after` towards the server. */
  const armed = new WeakSet<net.Socket>();
  const sockets = new Set<net.Socket>();
  const held: Array<[net.Socket, Buffer]> = [];
  const waiting: net.Socket[] = [];
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const forward = (from: net.Socket, to: net.Socket, towardsServer: boolean) =>
    from.on('data', (chunk: Buffer) => {
      if (!frozen && towardsServer && needle && (!after || armed.has(from)) && chunk.includes(needle)) {
        needle = undefined;
        frozen = true;
        return;
      }
      if (towardsServer && after && chunk.includes(after)) armed.add(from);
      if (frozen) held.push([to, chunk]);
      else to.write(chunk);
    });
  const connect = (client: net.Socket) => {
    const upstream = net.connect(Number(target.port || defaultPort), target.hostname);
    track(upstream);
    forward(client, upstream, true);
    forward(upstream, client, false);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (frozen) waiting.push(client);
    else connect(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = new URL(target.href);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    port: Number(url.port),
    freeze() {
      frozen = true;
    },
    freezeOn(text: string, afterText?: string) {
      needle = text;
      after = afterText;
    },
    get frozen() {
      return frozen;
    },
    thaw() {
      frozen = false;
      for (const [to, chunk] of held.splice(0)) if (!to.destroyed) to.write(chunk);
      for (const client of waiting.splice(0)) if (!client.destroyed) connect(client);
    },
    /** Closes every connection and refuses new ones (idempotent). */
    async stop() {
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}
