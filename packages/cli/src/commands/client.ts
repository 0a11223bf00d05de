/**
 * `fedmeta client --config FILE`: one institution's client. Loads its identity and its
 * data, connects to the coordinator (reconnecting with backoff), trains and masks every
 * round until the federation ends. SIGINT/SIGTERM close the connection cleanly.
 */
import { CliError } from '../errors.js';
import { flagString, parseFlags } from '../config/args.js';
import { loadConfig, setPath, type RawConfig } from '../config/load.js';
import { checkClientConfig } from '../config/rules.js';
import type { FedmetaConfig } from '../config/fedmeta-schema.js';
import { clientIdentity, clientOptionsFromConfig } from '../config/options.js';
import { labelCodingNote, loadClientData } from '../config/data.js';
import { openJsonLog } from '../ui/log.js';
import { toCliError } from '../ui/errors.js';
import { formatBytes } from '../ui/format.js';
import { resolve } from 'node:path';
import type { ModelManifest } from '@fedmeta/server';
import { writeModelDir } from '../model-files.js';

const HELP = `usage: fedmeta client --config FILE [options]

Runs one institution's client described by FILE (JSON or YAML; see README
"Configuration" and examples/client.yaml). Needs client.identity (from fedmeta keygen)
and client.server (wss://host:port); client.ca to trust a self-signed server certificate.

options (each overrides the config file):
  --config FILE     the config file (required)
  --server URL      [client.server]
  --identity FILE   [client.identity]
  --log FILE        JSON logs ("-": stderr)   [output.log]
  --json            print the final summary as JSON on stdout
  -h, --help`;

const FLAGS = {
  config: { type: 'string' },
  server: { type: 'string' },
  identity: { type: 'string' },
  log: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  const file = flagString(f.config);
  if (file === undefined) throw new CliError(`--config FILE is required\n\n${HELP}`);
  const o: RawConfig = {};
  for (const [flag, path] of [['server', 'client.server'], ['identity', 'client.identity'], ['log', 'output.log']] as const) {
    const v = flagString(f[flag]);
    if (v !== undefined) setPath(o, path, v);
  }
  let c: FedmetaConfig;
  try {
    c = loadConfig({ file, overrides: o });
    checkClientConfig(c, file);
  } catch (err) {
    toCliError(err);
  }
  const log = openJsonLog(c.output.log);
  try {
    return await participate(c, f.json === true, log.log.bind(log)).catch(toCliError);
  } finally {
    log.close();
  }
}

/** A placeholder dataset (the site reports a refusal and never trains). */
const EMPTY = { x: new Float32Array(0), y: new Int32Array(0), count: 0, shape: [1], numClasses: 1 };

async function participate(c: FedmetaConfig, json: boolean, log: ReturnType<typeof openJsonLog>['log']): Promise<number> {
  const out = json ? process.stderr : process.stdout;
  // In a terminal the round's phase is one line redrawn in place, with messages above it;
  // in a log (not a terminal) each round is its one summary line, not a line per phase.
  const tty = out.isTTY === true;
  let drawn = false;
  const say = (line: string) => {
    if (drawn) out.write('\r\x1b[2K');
    drawn = false;
    out.write(line + '\n');
  };
  const identity = clientIdentity(c, say);
  const meta = await import('@fedmeta/meta');
  const { runClient, reportRefusal } = await import('@fedmeta/client');
  const backend = await meta.selectBackend({ prefer: c.meta.backend, log: null });
  let data: Awaited<ReturnType<typeof loadClientData>>;
  try {
    data = await loadClientData(c.data);
  } catch (err) {
    // A file this site cannot use (a non-numeric or missing cell, a duplicated column): the
    // coordinator hears it too, typed and naming the row and column, before round 1.
    if (!(err instanceof Error && err.name === 'TabularError')) throw err;
    const { TransportError } = await import('@fedmeta/transport');
    const refusal = new TransportError('ERR_SCHEMA_MISMATCH', `this site's data cannot be used (${c.data.path}): ${err.message}`);
    const { data: _omit, ...options } = clientOptionsFromConfig(c, identity, { id: 0, support: EMPTY, query: EMPTY });
    const told = await reportRefusal(options, refusal);
    say(told ? `told the coordinator (${c.client.server}) that '${told}' cannot take part` : `could not reach the coordinator (${c.client.server}) to tell it`);
    throw new CliError(refusal.message, 1);
  }
  say(`fedmeta client '${identity.name}': ${data.support.count} support / ${data.query.count} query examples, tfjs ${backend.name}, connecting to ${c.client.server}`);
  const note = labelCodingNote(c.data);
  if (note) say(note);
  let last = '';
  const handle = runClient({
    ...clientOptionsFromConfig(c, identity, data),
    logger: (e) => {
      log(e.level, e.event, e);
      if (e.event === 'round.failed') say(`round ${e.round}: this site failed and left the round (the coordinator is told): ${String(e.message)}`);
      if (e.event === 'federation.accepted') {
        say(`federation settings accepted (client.policy): ${String(e.summary)}`);
        for (const n of (e.notes as string[] | undefined) ?? []) say(`note: ${n}`);
      }
      else if (e.event === 'round.aborted-by-client') say(`round ${e.round}: this site refused to continue (${e.reason}): ${e.message}`);
      else if (e.event === 'connect.retry') {
        say(`coordinator unreachable (${String(e.message)}); attempt ${e.attempt} failed, retrying in ${(Number(e.delayMs) / 1000).toFixed(1)} s${e.forever ? ' (and for as long as it takes: client.reconnect.maxAttempts 0)' : ''}`);
      } else if (e.event === 'round.end') {
        const sm = (e.summary ?? {}) as { accuracy?: number; epsilon?: number; survivors?: number; cohort?: number; abortReason?: string; preprocessing?: string };
        const parts = [
          sm.preprocessing ? 'federated feature statistics done' : '',
          typeof sm.survivors === 'number' && typeof sm.cohort === 'number' ? `${sm.survivors}/${sm.cohort} sites in the sum` : '',
          typeof sm.accuracy === 'number' ? `global accuracy ${(sm.accuracy * 100).toFixed(1)}% (coordinator's reference data)` : '',
          typeof sm.epsilon === 'number' ? `epsilon spent ${sm.epsilon.toFixed(3)}` : '',
          sm.abortReason ? `reason ${sm.abortReason}` : '',
        ].filter(Boolean);
        say(`round ${e.round} ${String(e.status)}${parts.length ? `: ${parts.join(', ')}` : ''}`);
      } else if (e.event === 'round.evaluated') {
        const fed = e.federated as { accuracy: number; loss?: number; auc?: number; sites: number; count: number; personalised?: { accuracy: number } } | undefined;
        const local = e.local as { accuracy: number; count: number; loss?: number; auc?: number; personalised?: { accuracy: number; steps: number } } | undefined;
        const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
        const parts = [
          fed ? `federated accuracy ${pct(fed.accuracy)} over ${fed.sites} sites (${fed.count} held-out rows)${fed.loss !== undefined ? `, loss ${fed.loss.toFixed(4)}` : ''}${fed.auc !== undefined ? `, AUC ${fed.auc.toFixed(3)}` : ''}${fed.personalised ? `, personalised ${pct(fed.personalised.accuracy)}` : ''}` : 'no federated metrics',
          local ? `this site ${pct(local.accuracy)} (${local.count} rows)${local.auc !== undefined ? `, AUC ${local.auc.toFixed(3)}` : ''}${local.personalised ? `, personalised ${pct(local.personalised.accuracy)} after ${local.personalised.steps} adaptation steps` : ''}` : '',
          typeof e.epsilon === 'number' ? `epsilon spent ${e.epsilon.toFixed(3)}` : '',
        ].filter(Boolean);
        say(`round ${e.round} evaluated (${String(e.status)}): ${parts.join('; ')}`);
      } else if (e.event === 'evaluation.local' && e.report === 'secure') {
        say(`round ${e.round}: this site's evaluation goes into a secure sum (the coordinator sees only the federation's metrics)`);
      } else if (e.event === 'round.benched') say(`round ${e.round}: left out of the next ${e.rounds} round(s) by the coordinator: ${e.reason}`);
      else if (e.event === 'round.aborted-by-server') say(`round ${e.round}: aborted by the coordinator (${e.reason}${e.detail ? `: ${e.detail}` : ''})`);
    },
    onProgress: (p) => {
      const line = `${p.round > 0 && p.state !== 'idle' && p.state !== 'done' ? `round ${p.round}: ` : ''}${p.state}${p.phase ? ` (${p.phase})` : ''}${p.attempts > 0 && p.state === 'backoff' ? `, attempt ${p.attempts}` : ''}`;
      if (line === last) return;
      last = line;
      const text = `${line}  up ${formatBytes(p.bytesOut)}  down ${formatBytes(p.bytesIn)}`;
      if (tty) {
        out.write(`\r\x1b[2K${text}`);
        drawn = true;
      } else if (p.state !== 'training' && p.state !== 'aggregating' && p.state !== 'idle') {
        // Connection states (connecting, authenticating, backoff, done, failed) stay; a
        // round's phases (the statistics round 0 included) and the idle time between rounds
        // are summed up by its 'round N completed' line.
        say(text);
      }
    },
  });
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) process.exit(130);
    say('closing the connection (again to exit at once)');
    void handle.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const s = await handle.done;
    // Round 0 is the statistics round of federated preprocessing, not a training round.
    const completed = s.rounds.filter((r) => r.status === 'completed' && r.round > 0).length;
    if (s.finalModel) {
      const dir = resolve(c.output.model);
      await writeModelDir(dir, s.finalModel.manifest as unknown as ModelManifest, s.finalModel.params);
      if (!json) say(`final model from the coordinator (round ${String(s.finalModel.manifest['round'])}): ${dir}/model.json, manifest ${dir}/fedmeta-model.json`);
    }
    if (json) process.stdout.write(JSON.stringify({ ...s, roundsCompleted: completed }, null, 2) + '\n');
    else say(`fedmeta client '${s.name || identity.name}': ${s.endReason}; ${completed} rounds contributed; up ${formatBytes(s.bytesOut)}, down ${formatBytes(s.bytesIn)}`);
    // The library's message already starts with its code.
    if (s.endReason === 'failed') throw new CliError(s.error?.message ?? 'failed: the client gave up', 1);
    return s.endReason === 'closed' ? 130 : 0;
  } finally {
    if (drawn) out.write('\n');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
