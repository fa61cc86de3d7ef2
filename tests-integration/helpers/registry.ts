/**
 * Owns the local registry the privileged tests push to and pull from:
 * docker-registry (distribution 2.x) on 127.0.0.1 with a free port, a temp
 * storage dir and optional htpasswd auth, behind a small TCP relay that lets a
 * test kill the registry in the middle of a transfer ("after N bytes") and
 * bring it back on the same address. `withRegistry` stops everything and
 * removes the temp dirs in `finally`, whatever the test did.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { toolMissing } from './tools.js';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

export interface RegistryOptions {
  /** Require this user/password (htpasswd -B). */
  auth?: { user: string; password: string };
  /**
   * Clients talk to the registry itself, not through the relay (benchmarks:
   * no Node process in the data path). kill/restart/killAfterBytes and
   * bytesServed then do nothing useful.
   */
  direct?: boolean;
}

export interface Registry {
  /** `127.0.0.1:PORT`, the address clients use (the relay). */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly storageDir: string;
  /** Bytes the registry has sent to clients since start (through the relay). */
  readonly bytesServed: number;
  /** SIGKILLs the registry, drops open connections and refuses new ones. */
  kill(): Promise<void>;
  /** Starts the registry again on the same address and storage. */
  restart(): Promise<void>;
  /** Arms the mid-pull hook: kill() once `n` more bytes have been served. Resolves after the kill. */
  killAfterBytes(n: number): Promise<void>;
  /** The registry's log so far. */
  log(): string;
}

/** Why the registry tests cannot run here, or undefined. */
export function registryUnavailable(): string | undefined {
  return toolMissing([DOCKER_REGISTRY, 'skopeo', 'umoci']) ?? undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(port: number, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not become ready on 127.0.0.1:${port}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
}

function writeConfig(dir: string, storage: string, port: number, htpasswd: string | undefined): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog: {disabled: false}',
    'storage:',
    `  filesystem: {rootdirectory: ${storage}}`,
    '  delete: {enabled: true}',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (htpasswd !== undefined) lines.push('auth:', '  htpasswd:', '    realm: tsbootc-test', `    path: ${htpasswd}`);
  const file = path.join(dir, 'config.yml');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Starts a registry, runs `fn`, and always tears everything down. */
export async function withRegistry<T>(opts: RegistryOptions, fn: (r: Registry) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-registry-'));
  const storageDir = path.join(dir, 'storage');
  const logFile = path.join(dir, 'registry.log');
  let child: ChildProcess | undefined;
  const sockets = new Set<net.Socket>();
  let relay: net.Server | undefined;
  try {
    let htpasswd: string | undefined;
    if (opts.auth !== undefined) {
      htpasswd = path.join(dir, 'htpasswd');
      writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', opts.auth.user, opts.auth.password]));
    }
    const backendPort = await freePort();
    const config = writeConfig(dir, storageDir, backendPort, htpasswd);
    const start = async () => {
      const fd = openSync(logFile, 'a');
      try {
        child = spawn(DOCKER_REGISTRY, ['serve', config], { stdio: ['ignore', fd, fd] });
      } finally {
        closeSync(fd);
      }
      await waitReady(backendPort, child, logFile);
    };
    await start();

    let served = 0;
    let trigger: { at: number; fire: () => void } | undefined;
    const killNow = async () => {
      relay?.close();
      for (const s of sockets) s.destroy();
      sockets.clear();
      const c = child;
      if (c !== undefined && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        c.kill('SIGKILL');
        await exited;
      }
    };
    const onConnection = (client: net.Socket) => {
      const upstream = net.connect(backendPort, '127.0.0.1');
      sockets.add(client).add(upstream);
      // Errors tear both sides down; a clean close of the registry side only
      // ends the client side, so bytes still buffered for the client get there.
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', () => {
        sockets.delete(client);
        upstream.destroy();
      });
      upstream.on('error', drop).on('close', () => {
        sockets.delete(upstream);
        client.end();
      });
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        served += chunk.length;
        if (trigger !== undefined && served >= trigger.at) {
          const t = trigger;
          trigger = undefined;
          t.fire();
          return;
        }
        if (!client.write(chunk)) {
          upstream.pause();
          client.once('drain', () => upstream.resume());
        }
      });
      upstream.on('end', () => client.end());
    };
    const listen = (port: number) =>
      new Promise<number>((resolve, reject) => {
        relay = net.createServer(onConnection);
        relay.once('error', reject);
        relay.listen(port, '127.0.0.1', () => resolve((relay?.address() as net.AddressInfo).port));
      });
    const port = opts.direct === true ? backendPort : await listen(0);

    const reg: Registry = {
      host: `127.0.0.1:${port}`,
      url: `http://127.0.0.1:${port}`,
      storageDir,
      get bytesServed() {
        return served;
      },
      kill: killNow,
      async restart() {
        await start();
        await listen(port);
      },
      killAfterBytes(n: number) {
        return new Promise<void>((resolve, reject) => {
          trigger = { at: served + n, fire: () => killNow().then(resolve, reject) };
        });
      },
      log: () => readFileSync(logFile, 'utf8'),
    };
    return await fn(reg);
  } finally {
    relay?.close();
    for (const s of sockets) s.destroy();
    const c = child;
    if (c !== undefined && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
