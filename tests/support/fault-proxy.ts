/*
 * A TCP proxy on a fixed loopback port, for the fault suite: what a load balancer or a server's address is to
 * its clients. setTarget() sends new connections elsewhere (a balancer moving to the surviving process);
 * cut() closes every connection and refuses new ones (the server is gone: clients see ECONNREFUSED) until
 * resume().
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from '../../src/runtime/local-services.js';

export interface FaultProxy {
  port: number;
  setTarget(port: number): void;
  cut(): Promise<void>;
  resume(): Promise<void>;
  /** Connections opened through the proxy so far. */
  connections(): number;
  stop(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  let target = targetPort;
  let opened = 0;
  const live = new Set<Socket>();
  const port = await freePort();
  let server: Server | undefined;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((client) => {
        opened += 1;
        const upstream = connect(target, '127.0.0.1');
        live.add(client).add(upstream);
        const close = () => {
          client.destroy();
          upstream.destroy();
          live.delete(client);
          live.delete(upstream);
        };
        client.on('error', close).on('close', close);
        upstream.on('error', close).on('close', close);
        client.pipe(upstream).pipe(client);
      });
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => {
        server = next;
        resolve();
      });
    });
  const close = async () => {
    const running = server;
    server = undefined;
    for (const socket of live) socket.destroy();
    live.clear();
    if (running) await new Promise<void>((resolve) => running.close(() => resolve()));
  };

  await listen();
  return {
    port,
    setTarget(next) {
      target = next;
    },
    cut: close,
    async resume() {
      if (server) return;
      // The port was just ours; another process could take it meanwhile, which a retry would not fix.
      await listen();
    },
    connections: () => opened,
    stop: close,
  };
}
