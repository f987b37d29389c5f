#!/usr/bin/env node
// fake-openclaw.js WORKDIR
//
// Mimics the runtime process tree of an OpenClaw gateway for clawfence
// end-to-end tests. No network use; prints nothing to stdout.
//
//   node fake-openclaw.js WORKDIR          comm "openclaw"
//     └─ node ... --gateway WORKDIR        comm "openclaw-gatewa" (15-char limit);
//          reads WORKDIR/openclaw.json
//          └─ node ... --broker WORKDIR    comm "openclaw-broker"
//               └─ /bin/sh -c '...'        cats WORKDIR/workspace/notes.txt,
//                                          writes WORKDIR/workspace/out.txt
//
// Each level waits for its child. A failing child's exit status is
// propagated upward (1 if it died from a signal); otherwise exit 0.
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');

function usage() {
  process.stderr.write('usage: node fake-openclaw.js WORKDIR\n');
  process.exit(2);
}

function runSelf(mode, workdir) {
  const child = childProcess.spawn(process.execPath, [__filename, mode, workdir], {
    stdio: 'inherit',
  });
  child.on('error', (err) => {
    process.stderr.write(`fake-openclaw: spawn ${mode} failed: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (code !== 0) {
      process.stderr.write(`fake-openclaw: ${mode} exited code=${code} signal=${signal}\n`);
    }
    process.exit(code === null ? 1 : code);
  });
}

function launcher(workdir) {
  process.title = 'openclaw';
  runSelf('--gateway', workdir);
}

function gateway(workdir) {
  process.title = 'openclaw-gateway';
  // The config is read and parsed like a real gateway would; its content
  // is not otherwise used.
  const cfgPath = path.join(workdir, 'openclaw.json');
  const raw = fs.readFileSync(cfgPath, 'utf8');
  // Like a real gateway, it reads its provider key at start (a normal read: no alert).
  void process.env.OPENAI_API_KEY;
  try {
    JSON.parse(raw);
  } catch (err) {
    process.stderr.write(`fake-openclaw: ${cfgPath} is not valid JSON (ignored): ${err.message}\n`);
  }
  // FAKE_OPENCLAW_PROVIDER="DNS_SERVER NAME PORT": before starting the tool, the gateway resolves
  // its LLM provider through that server and connects to it, as a real gateway does.
  const provider = process.env.FAKE_OPENCLAW_PROVIDER;
  if (!provider) {
    runSelf('--broker', workdir);
    return;
  }
  const [server, name, port] = provider.split(' ');
  const resolver = new (require('dns').Resolver)();
  resolver.setServers([server]);
  resolver.resolve4(name, (err, addrs) => {
    if (err || !addrs.length || !addrs[0].startsWith('127.')) {
      process.stderr.write(`fake-openclaw: cannot resolve ${name} to a loopback address\n`);
      process.exit(1);
    }
    const sock = require('net').connect({ host: addrs[0], port: Number(port) }, () => {
      sock.end();
      runSelf('--broker', workdir);
    });
    sock.on('error', (e) => {
      process.stderr.write(`fake-openclaw: provider connect failed: ${e.message}\n`);
      process.exit(1);
    });
  });
}

function broker(workdir) {
  process.title = 'openclaw-broker';
  const res = childProcess.spawnSync(
    '/bin/sh',
    // FAKE_OPENCLAW_TOOL replaces the tool's command (a "malicious skill" in the tests).
    ['-c', process.env.FAKE_OPENCLAW_TOOL ||
         'cat "$1/workspace/notes.txt" > /dev/null; echo tool-ran > "$1/workspace/out.txt"', 'sh', workdir],
    { stdio: 'inherit' },
  );
  if (res.error) {
    process.stderr.write(`fake-openclaw: shell tool failed to start: ${res.error.message}\n`);
    process.exit(1);
  }
  if (res.status !== 0) {
    process.stderr.write(`fake-openclaw: shell tool exited status=${res.status} signal=${res.signal}\n`);
    process.exit(res.status === null ? 1 : res.status);
  }
  process.exit(0);
}

const args = process.argv.slice(2);
if (args.length === 1 && !args[0].startsWith('--')) {
  launcher(args[0]);
} else if (args.length === 2 && args[0] === '--gateway') {
  gateway(args[1]);
} else if (args.length === 2 && args[0] === '--broker') {
  broker(args[1]);
} else {
  usage();
}
