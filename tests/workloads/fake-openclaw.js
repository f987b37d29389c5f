#!/usr/bin/env node
// fake-openclaw.js WORKDIR
//
// A small stand-in for an OpenClaw gateway, for the fast end-to-end tests: the process tree of
// the real one (OpenClaw 2026.9.6, which tests/openclaw runs for real) without its start-up
// time. No network use unless asked; prints nothing to stdout.
//
//   node fake-openclaw.js WORKDIR          the gateway: one process that renames itself
//                                          "openclaw", then "openclaw-gateway" (the kernel keeps
//                                          15 characters); reads WORKDIR/openclaw.json
//     └─ node WORKDIR/node_modules/openclaw/dist/process/spawn-broker/worker.js
//                                          the spawn broker (this file, copied where OpenClaw's
//                                          own broker lives), as the real gateway starts it
//          └─ /bin/sh -c 'echo 1000 > /proc/self/oom_score_adj ...; exec "$0" "$@"'
//               /bin/bash --noprofile --norc -c TOOL
//                                          the exec tool's command, wrapped as the real broker
//                                          wraps it; by default it cats
//                                          WORKDIR/workspace/notes.txt and writes
//                                          WORKDIR/workspace/out.txt
//
// Each level waits for its child. A failing child's exit status is propagated upward (1 if it
// died from a signal); otherwise exit 0.
//
// FAKE_OPENCLAW_TOOL replaces the tool's command (a "malicious skill" in the tests).
// FAKE_OPENCLAW_PROVIDER="DNS_SERVER NAME PORT": before starting the broker, the gateway
// resolves its LLM provider through that server and connects to it, as a real gateway does.
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');

const BROKER = 'node_modules/openclaw/dist/process/spawn-broker/worker.js';
// The real broker's wrapper (OpenClaw's linux-oom-score): raise the child's OOM score, then
// exec the command in place.
const OOM_WRAP = 'echo 1000 > /proc/self/oom_score_adj 2>/dev/null; exec "$0" "$@"';

function fail(msg) {
  process.stderr.write(`fake-openclaw: ${msg}\n`);
  process.exit(1);
}

function waitFor(child, what) {
  child.on('error', (err) => fail(`${what} failed to start: ${err.message}`));
  child.on('exit', (code, signal) => {
    if (code !== 0) process.stderr.write(`fake-openclaw: ${what} exited code=${code} signal=${signal}\n`);
    process.exit(code === null ? 1 : code);
  });
}

// The broker runs OpenClaw's own file: its argv is exactly [node, <package>/dist/.../worker.js],
// the working directory passed in the environment as the real broker is handed its requests.
function startBroker(workdir) {
  const broker = path.join(workdir, BROKER);
  fs.mkdirSync(path.dirname(broker), { recursive: true });
  fs.copyFileSync(__filename, broker);
  const child = childProcess.spawn(process.execPath, [broker], {
    stdio: 'inherit',
    env: { ...process.env, FAKE_OPENCLAW_WORKDIR: workdir },
  });
  waitFor(child, 'spawn broker');
}

function gateway(workdir) {
  process.title = 'openclaw';
  process.title = 'openclaw-gateway';
  // The config is read and parsed like a real gateway would; its content is not otherwise used.
  const cfgPath = path.join(workdir, 'openclaw.json');
  const raw = fs.readFileSync(cfgPath, 'utf8');
  try {
    JSON.parse(raw);
  } catch (err) {
    process.stderr.write(`fake-openclaw: ${cfgPath} is not valid JSON (ignored): ${err.message}\n`);
  }
  // Like a real gateway, it reads its provider key at start (a normal read: no alert), after
  // loading its modules for a few seconds: here a fifth of one.
  setTimeout(() => {
    void process.env.OPENAI_API_KEY;
    serve(workdir);
  }, 200);
}

function serve(workdir) {
  const provider = process.env.FAKE_OPENCLAW_PROVIDER;
  if (!provider) {
    startBroker(workdir);
    return;
  }
  const [server, name, port] = provider.split(' ');
  const resolver = new (require('dns').Resolver)();
  resolver.setServers([server]);
  resolver.resolve4(name, (err, addrs) => {
    if (err || !addrs.length || !addrs[0].startsWith('127.')) fail(`cannot resolve ${name} to a loopback address`);
    const sock = require('net').connect({ host: addrs[0], port: Number(port) }, () => {
      sock.end();
      startBroker(workdir);
    });
    sock.on('error', (e) => fail(`provider connect failed: ${e.message}`));
  });
}

function broker(workdir) {
  const tool = process.env.FAKE_OPENCLAW_TOOL ||
      `cat '${workdir}/workspace/notes.txt' > /dev/null; echo tool-ran > '${workdir}/workspace/out.txt'`;
  const res = childProcess.spawnSync(
    '/bin/sh', ['-c', OOM_WRAP, '/bin/bash', '--noprofile', '--norc', '-c', tool],
    { stdio: 'inherit', cwd: path.join(workdir, 'workspace') },
  );
  if (res.error) fail(`shell tool failed to start: ${res.error.message}`);
  if (res.status !== 0) {
    process.stderr.write(`fake-openclaw: shell tool exited status=${res.status} signal=${res.signal}\n`);
    process.exit(res.status === null ? 1 : res.status);
  }
  process.exit(0);
}

const args = process.argv.slice(2);
if (process.env.FAKE_OPENCLAW_WORKDIR && args.length === 0) {
  broker(process.env.FAKE_OPENCLAW_WORKDIR);
} else if (args.length === 1 && !args[0].startsWith('--')) {
  gateway(args[0]);
} else {
  process.stderr.write('usage: node fake-openclaw.js WORKDIR\n');
  process.exit(2);
}
