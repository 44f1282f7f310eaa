import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync } from 'node:fs';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../src/runtime/local-services.js';

/*
 * A real IMAP server for the email channel's tests: Debian's Dovecot (package dovecot-imapd) with its own
 * config, sockets, state and mail under `dataDir`, IMAP only, plaintext logins on 127.0.0.1 and no TLS. Any
 * user name logs in with `dovecotPassword` and gets its own Maildir (`<dataDir>/home/<user>/Maildir`), so a
 * test isolates itself by logging in as a unique user, as it uses a unique key prefix on Redis. It shares
 * nothing with a system Dovecot (own base_dir, state_dir and port).
 *
 * Dovecot runs in the foreground as our child. stop() shuts it down (it takes its login and IMAP processes
 * with it); should this process end without stop(), an 'exit' handler and the kernel's parent-death signal
 * (setpriv --pdeathsig) take it down too. restart() stops it and starts it again on the same port and data.
 *
 * As root, Dovecot drops privileges the Debian way: logins run as `dovenull`, its own helpers as `dovecot`,
 * and mail as `nobody` (Dovecot refuses mail as root, and nobody keeps a server with a well-known password
 * from writing anywhere else); `nobody` owns `home/` and must be able to traverse to it. As another user,
 * Dovecot cannot switch users, so every process, mail included, runs as that user and nothing chroots.
 */

export const dovecotPassword = 'secret';

export interface DovecotOptions {
  /** Folder for config, sockets, state, logs and mail; created if missing, kept across restart(). */
  dataDir: string;
  log: (line: string) => void;
}

export interface Dovecot {
  host: '127.0.0.1';
  port: number;
  /** Stops Dovecot and starts it again on the same port with the same mail; open IMAP connections drop. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export class DovecotError extends Error {
  override name = 'DovecotError';
}

const dovecotBin = '/usr/sbin/dovecot';
const host = '127.0.0.1';
// Unix socket paths are limited to 108 bytes; Dovecot's longest socket name under base_dir is ~30.
const maxBaseDirLength = 70;

interface Identity {
  loginUser: string;
  internalUser: string;
  internalGroup: string;
  mailUid: number;
  mailGid: number;
  isPrivileged: boolean;
}

function idOf(args: string[]): string {
  const result = spawnSync('id', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new DovecotError(`id ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

function identity(): Identity {
  if (process.getuid?.() === 0) {
    for (const user of ['dovecot', 'dovenull']) {
      if (spawnSync('id', ['-u', user]).status !== 0)
        throw new DovecotError(`the ${user} system user is missing (reinstall dovecot-core)`);
    }
    return {
      loginUser: 'dovenull',
      internalUser: 'dovecot',
      internalGroup: 'dovecot',
      mailUid: Number(idOf(['-u', 'nobody'])),
      mailGid: Number(idOf(['-g', 'nobody'])),
      isPrivileged: true,
    };
  }
  const me = userInfo().username;
  return {
    loginUser: me,
    internalUser: me,
    internalGroup: idOf(['-gn']),
    mailUid: process.getuid?.() ?? 0,
    mailGid: process.getgid?.() ?? 0,
    isPrivileged: false,
  };
}

interface Paths {
  baseDir: string;
  stateDir: string;
  home: string;
  logFile: string;
}

function config(paths: Paths, who: Identity, port: number): string {
  // Without root, chroot is impossible: clear it for every service Dovecot chroots by default.
  const noChroot = who.isPrivileged
    ? ''
    : ['anvil', 'imap-login', 'imap-urlauth-login', 'imap-urlauth', 'imap-urlauth-worker']
        .map((service) => `service ${service} {\n  chroot =\n}\n`)
        .join('');
  return `# Written by tests/support/dovecot.ts; rewritten on every start.
base_dir = ${paths.baseDir}
state_dir = ${paths.stateDir}
instance_name = switchboard-test-${port}
log_path = ${paths.logFile}
auth_verbose = yes

protocols = imap
listen = ${host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login

default_login_user = ${who.loginUser}
default_internal_user = ${who.internalUser}
default_internal_group = ${who.internalGroup}
first_valid_uid = 1
first_valid_gid = 1

passdb {
  driver = static
  args = password=${dovecotPassword}
}
userdb {
  driver = static
  args = uid=${who.mailUid} gid=${who.mailGid} home=${paths.home}/%u
}
mail_location = maildir:~/Maildir
# Test data: a process restart loses nothing without fsync; only a machine crash would.
mail_fsync = never
mail_max_userip_connections = 100

# IDLE: new mail is noticed through inotify at once; the interval check is the fallback where inotify fails.
imap_idle_notify_interval = 10 secs
mailbox_idle_check_interval = 1 secs

service imap-login {
  inet_listener imap {
    address = ${host}
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
# IMAP processes run as the mail user, who must reach the stats socket (else a warning on every login).
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
${noChroot}`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readFrom(file: string, offset: number): string {
  if (!existsSync(file)) return '';
  return readFileSync(file).subarray(offset).toString('utf8').trimEnd().split('\n').slice(-20).join('\n');
}

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** True once the port answers with an IMAP greeting (`* OK`). */
function greets(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect(port, host);
    let received = '';
    const done = (ok: boolean) => {
      socket.destroy();
      res(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n')) done(received.startsWith('* OK'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

export async function startDovecot(options: DovecotOptions): Promise<Dovecot> {
  if (!existsSync(dovecotBin)) {
    throw new DovecotError(
      `${dovecotBin} not found; install Debian's dovecot-imapd (apt-get install dovecot-imapd)`,
    );
  }
  const dataDir = resolve(options.dataDir);
  // userdb args are split on spaces: a home path with one would be cut short.
  if (/\s/.test(dataDir)) throw new DovecotError(`Dovecot's dataDir may not contain spaces: ${dataDir}`);
  const inDataDir = join(dataDir, 'run');
  // A deep checkout would push socket paths past the kernel's limit: sockets then live in a short temp dir.
  const baseDir =
    inDataDir.length <= maxBaseDirLength ? inDataDir : mkdtempSync(join(tmpdir(), 'switchboard-dovecot-'));
  const paths = {
    baseDir,
    stateDir: join(dataDir, 'state'),
    home: join(dataDir, 'home'),
    logFile: join(dataDir, 'dovecot.log'),
  };
  const confFile = join(dataDir, 'dovecot.conf');
  const outputFile = join(dataDir, 'dovecot.out');
  for (const dir of [dataDir, baseDir, paths.stateDir, paths.home]) mkdirSync(dir, { recursive: true });
  const who = identity();
  if (who.isPrivileged) {
    chmodSync(dataDir, 0o755);
    chownSync(paths.home, who.mailUid, who.mailGid);
    const probe = spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-w', paths.home]);
    if (probe.status !== 0) {
      throw new DovecotError(
        `Dovecot's mail user (nobody) cannot write to ${paths.home}: every folder above it must be ` +
          'traversable by others (chmod o+x)',
      );
    }
  }
  chmodSync(baseDir, 0o755);
  await stopStale(join(baseDir, 'master.pid'), options.log);

  // The log is kept across restarts; a launch's verdict reads only what was written since it began.
  let logOffset = 0;
  const details = () =>
    [readFrom(paths.logFile, logOffset), tail(outputFile, 20)].filter(Boolean).join('\n') || '(no output)';
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill('SIGTERM');
  process.on('exit', killOnExit);

  /** Starts Dovecot on `port`; resolves 'port-in-use' when the port is taken, throws on other failures. */
  const launch = async (port: number): Promise<'started' | 'port-in-use'> => {
    writeFileSync(confFile, config(paths, who, port));
    logOffset = existsSync(paths.logFile) ? statSync(paths.logFile).size : 0;
    const output = openSync(outputFile, 'w');
    // setpriv sets the parent-death signal and execs Dovecot: should we die (even by SIGKILL), so does it.
    const hasSetpriv = existsSync('/usr/bin/setpriv');
    const [command, args] = hasSetpriv
      ? ['/usr/bin/setpriv', ['--pdeathsig', 'TERM', '--', dovecotBin, '-F', '-c', confFile]]
      : [dovecotBin, ['-F', '-c', confFile]];
    const started = spawn(command, args, { stdio: ['ignore', output, output] });
    closeSync(output);
    started.unref();
    child = started;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (started.exitCode !== null || started.signalCode !== null) {
        child = undefined;
        if (/Address already in use/.test(details())) return 'port-in-use';
        throw new DovecotError(`Dovecot exited (${started.exitCode ?? started.signalCode}):\n${details()}`);
      }
      if (await greets(port)) return 'started';
      if (Date.now() > deadline) {
        await stopChild();
        throw new DovecotError(`Dovecot did not greet on port ${port} within 10s:\n${details()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const stopChild = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((res) => {
      const timer = setTimeout(() => running.kill('SIGKILL'), 5_000);
      running.once('exit', () => {
        clearTimeout(timer);
        res();
      });
      running.kill('SIGTERM');
    });
  };

  const startedAt = Date.now();
  let port = 0;
  try {
    for (let attempt = 1; ; attempt += 1) {
      port = await freePort();
      if ((await launch(port)) === 'started') break;
      if (attempt === 5) throw new DovecotError(`no free port for Dovecot after ${attempt} tries`);
    }
  } catch (error) {
    process.off('exit', killOnExit);
    throw error;
  }
  options.log(`Dovecot on ${host}:${port} in ${Date.now() - startedAt} ms (data in ${dataDir})`);

  return {
    host,
    port,
    async restart() {
      await stopChild();
      // Listening sockets of the old instance can outlive its master for a moment: retry the same port.
      const deadline = Date.now() + 5_000;
      while ((await launch(port)) === 'port-in-use') {
        if (Date.now() > deadline) throw new DovecotError(`port ${port} still in use after restart`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      await stopChild();
      process.off('exit', killOnExit);
      if (baseDir !== inDataDir) rmSync(baseDir, { recursive: true, force: true });
    },
  };
}

/** A Dovecot left running by a run that was killed before it could stop it: stopped through its pid file. */
async function stopStale(pidFile: string, log: (line: string) => void): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const comm = existsSync(`/proc/${pid}/comm`) ? readFileSync(`/proc/${pid}/comm`, 'utf8').trim() : '';
  if (comm !== 'dovecot') return;
  log(`stopping a Dovecot left running from an earlier run (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 5_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}
