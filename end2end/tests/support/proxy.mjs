// A reverse proxy (nginx, Caddy) run as a child for one test run: started
// with its configuration in a temporary directory of its own, ready once it
// accepts connections on its loopback port, stopped with SIGTERM (fast
// shutdown for both: open sockets are closed, not waited for), and its
// directory removed.
import { spawn } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { connect } from 'node:net';

/** Whether `bin` can be run here. */
export function executable(bin) {
  try {
    accessSync(bin, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether something accepts TCP connections on the loopback `port`. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Runs `bin args` (environment `env` added) until it listens on `port`;
 * `dir` is its temporary directory, removed when it stops or fails to start.
 * Resolves to `{ origin, stop() }`; a failure to start says why, with
 * `config` for the reader.
 */
export async function runUntilListening({ name, bin, args, env = {}, port, dir, config }) {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (running()) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!running()) {
      await stop();
      throw new Error(`${name} exited with ${child.exitCode}:\n${stderr}\n${config}`);
    }
    // A connection, not a request: the app's log of requests stays the test's.
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not listen on ${origin} in 10 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { origin, stop };
}
