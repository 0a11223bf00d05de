import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, describe, editDistance, suggest, validate } from '../src/config/schema.js';
import { fedmetaSchema } from '../src/config/fedmeta-schema.js';
import { loadConfig, parseConfigText } from '../src/config/load.js';
import { checkClientConfig, checkServerConfig, checkSimulateConfig } from '../src/config/rules.js';
import { hasGlobalLabels, labelCodingNote, loadClientData, loadDemoFederation } from '../src/config/data.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fedmeta-config-'));

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_CONFIG_INVALID');
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected a ConfigError');
}

test('an empty document validates to the documented defaults', () => {
  const c = validate(fedmetaSchema, {});
  assert.equal(c.server.port, 8443);
  assert.equal(c.server.host, '0.0.0.0');
  assert.equal(c.secagg.mode, 'auto');
  assert.equal(c.dp.enabled, true);
  assert.equal(c.meta.algorithm, 'reptile');
  assert.equal(c.server.roster, undefined);
  assert.equal(c.server.deadlines.shareKeys, 30_000);
});

test('the example YAML and JSON configs in examples/ pass their command checks', () => {
  const server = loadConfig({ file: join(repoRoot, 'examples/server.yaml') });
  checkServerConfig(server);
  assert.equal(server.server.roster, join(repoRoot, 'examples/roster.json'), 'paths resolve against the config file');
  const client = loadConfig({ file: join(repoRoot, 'examples/client.yaml') });
  checkClientConfig(client);
  assert.match(client.client.server!, /^wss:\/\//);
  const json = loadConfig({ file: join(repoRoot, 'examples/simulate.json') });
  checkSimulateConfig(json);
});

test('YAML and JSON spellings of the same document give the same config', () => {
  const yaml = parseConfigText('server:\n  port: 9000\n  insecure: true\ndp:\n  epsilon: 3.5\n', 'a.yaml');
  const json = parseConfigText('{"server":{"port":9000,"insecure":true},"dp":{"epsilon":3.5}}', 'a.json');
  assert.deepEqual(validate(fedmetaSchema, yaml), validate(fedmetaSchema, json));
});

test('a bad integer names the field, the allowed range and the value given', () => {
  assert.deepEqual(issuesOf(() => validate(fedmetaSchema, { server: { port: '80a' } })), ['server.port: must be an integer 1-65535 (got "80a")']);
  assert.deepEqual(issuesOf(() => validate(fedmetaSchema, { server: { port: 70000 } })), ['server.port: must be an integer 1-65535 (got 70000)']);
  assert.deepEqual(issuesOf(() => validate(fedmetaSchema, { server: { rounds: 2.5 } })), ['server.rounds: must be an integer 1-1000000 (got 2.5)']);
  // Numeric strings are accepted (YAML users quote numbers).
  assert.equal(validate(fedmetaSchema, { server: { port: '9443' } }).server.port, 9443);
});

test('numbers, enums, booleans and strings each get their own message', () => {
  const issues = issuesOf(() =>
    validate(fedmetaSchema, {
      dp: { epsilon: 0, enabled: 'maybe' },
      secagg: { mode: 'secag+' },
      meta: { algorithm: 42 },
      client: { server: 'http://x', identity: '' },
    }),
  );
  assert.deepEqual(issues, [
    "secagg.mode: must be one of 'secagg+', 'secagg', 'auto', 'plaintext' (got \"secag+\"); did you mean 'secagg+'?",
    'dp.enabled: must be true or false (got "maybe")',
    'dp.epsilon: must be a number > 0 and <= 1000 (got 0)',
    "meta.algorithm: must be one of 'reptile', 'fomaml', 'maml', 'perfedavg-fo', 'perfedavg-hf', 'fedavg', 'fedavg-ft', 'fedprox', 'protonets' (got 42)",
    'client.identity: must be a non-empty string (got "")',
    'client.server: must be a ws:// or wss:// URL, e.g. wss://coordinator.example.org:8443 (got "http://x")',
  ]);
});

test('unknown keys are rejected with a did-you-mean and the allowed names', () => {
  const issues = issuesOf(() => validate(fedmetaSchema, { server: { prot: 1 }, sever: {}, dp: { epsilonn: 1 } }));
  assert.equal(issues.length, 3);
  assert.match(issues[0]!, /^sever: unknown field; did you mean 'server'\?/);
  assert.match(issues[1]!, /^server\.prot: unknown field; did you mean 'port'\? \(allowed here: host, port,/);
  assert.match(issues[2]!, /^dp\.epsilonn: unknown field; did you mean 'epsilon'\?/);
  const far = issuesOf(() => validate(fedmetaSchema, { zzzzzzzz: 1 }));
  assert.doesNotMatch(far[0]!, /did you mean/);
});

test('a section of the wrong shape is reported, not crashed on', () => {
  assert.deepEqual(issuesOf(() => validate(fedmetaSchema, { server: [1, 2] })), ['server: must be a mapping of fields (got a list)']);
  assert.deepEqual(issuesOf(() => validate(fedmetaSchema, { dp: 'on' })), ['dp: must be a mapping of fields (got "on")']);
});

test('syntax errors name the file and the format', () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'server:\n  port: 1\n port: 2\n');
  assert.match(issuesOf(() => loadConfig({ file: bad }))[0]!, /not valid YAML/);
  const badJson = join(dir, 'bad.json');
  writeFileSync(badJson, '{"server": ');
  const err = (() => {
    try {
      loadConfig({ file: badJson });
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(err instanceof ConfigError);
  assert.match(err.message, /bad\.json: .*not valid JSON/);
  assert.match(issuesOf(() => loadConfig({ file: join(dir, 'missing.yaml') }))[0]!, /file not found/);
  assert.match(issuesOf(() => parseConfigText('- a\n- b\n', 'list.yaml'))[0]!, /must be a mapping of sections/);
  assert.match(issuesOf(() => parseConfigText('a: 1\na: 2\n', 'dup.yaml'))[0]!, /not valid YAML/);
});

test('server rules: TLS or explicit insecure, a roster, both TLS files', () => {
  const base = validate(fedmetaSchema, {});
  assert.deepEqual(issuesOf(() => checkServerConfig(base)).map((i) => i.split(':')[0]), ['server.roster', 'server.tls']);
  const both = validate(fedmetaSchema, { server: { roster: 'r.json', insecure: true, tls: { cert: 'c.pem', key: 'k.pem' } } });
  assert.match(issuesOf(() => checkServerConfig(both))[0]!, /^server\.insecure: cannot be true when server\.tls is set/);
  const half = validate(fedmetaSchema, { server: { roster: 'r.json', tls: { cert: 'c.pem' } } });
  assert.match(issuesOf(() => checkServerConfig(half))[0]!, /^server\.tls\.key: is required/);
  const small = validate(fedmetaSchema, { server: { roster: 'r.json', insecure: true, minClients: 5, clientsPerRound: 3 } });
  assert.match(issuesOf(() => checkServerConfig(small))[0]!, /^server\.clientsPerRound: must be 0 \(all\) or >= server\.minClients \(5\)/);
  checkServerConfig(validate(fedmetaSchema, { server: { roster: 'r.json', insecure: true } }));
});

test('client rules: identity, server URL, a demo shard, ca only with wss', () => {
  const issues = issuesOf(() => checkClientConfig(validate(fedmetaSchema, {})));
  assert.deepEqual(issues.map((i) => i.split(':')[0]), ['client.identity', 'client.server', 'data.clientIndex']);
  const plain = validate(fedmetaSchema, { client: { identity: 'a.json', server: 'ws://h:1', ca: 'ca.pem' }, data: { clientIndex: 0 } });
  assert.match(issuesOf(() => checkClientConfig(plain))[0]!, /^client\.ca: only applies to wss:\/\//);
  const csv = validate(fedmetaSchema, { client: { identity: 'a.json', server: 'wss://h:1' }, data: { source: 'csv' } });
  assert.match(issuesOf(() => checkClientConfig(csv))[0]!, /^data\.path: is required when data\.source is 'csv'/);
});

test('flags override the file and are validated with the flag source named', () => {
  const file = join(dir, 'sim.yaml');
  writeFileSync(file, 'server:\n  rounds: 7\nsimulate:\n  clients: 4\n');
  const c = loadConfig({ file, defaults: { server: { rounds: 3 } }, overrides: { simulate: { clients: 9 } } });
  assert.equal(c.server.rounds, 7, 'the file beats the defaults');
  assert.equal(c.simulate.clients, 9, 'flags beat the file');
  assert.throws(() => loadConfig({ file, overrides: { simulate: { drop: '2:lunch' } } }), (e: Error) => e instanceof ConfigError && /sim\.yaml \+ flags: simulate\.drop: must be "none" or ROUND:PHASE/.test(e.message));
});

test('the tables of docs/configuration.md are the rendering of the schema (npm run docs:config)', async () => {
  const { withConfigTables } = await import('../src/config/doc.js');
  const doc = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
  assert.equal(withConfigTables(doc), doc, 'docs/configuration.md is stale: run npm run docs:config');
});

test('every schema field is documented in docs/configuration.md', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
  assert.ok(doc.startsWith('# Configuration\n'), 'docs/configuration.md is the Configuration page');
  for (const field of describe(fedmetaSchema)) assert.ok(doc.includes(`\`${field.path}\``), `docs/configuration.md documents ${field.path}`);
});

test('suggestions come from edit distance and ignore case', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(suggest('Port', ['port', 'host']), 'port');
  assert.equal(suggest('xyz', ['port', 'host']), undefined);
});

test('csv sites share label ids through data.classNames, even a site missing a class', async () => {
  const { loadClientData } = await import('../src/config/data.js');
  const rows = (labels: string[]) => ['x1,x2,diagnosis', ...labels.map((l, i) => `${i},${i % 3},${l}`)].join('\n');
  const onlyMalignant = join(dir, 'site-m.csv');
  writeFileSync(onlyMalignant, rows(Array.from({ length: 10 }, () => 'malignant')));
  const base = { source: 'csv', labelColumn: 'diagnosis', supportPerClass: 3 };
  const shared = validate(fedmetaSchema, { data: { ...base, path: onlyMalignant, classNames: 'benign,malignant' } });
  const data = await loadClientData(shared.data);
  assert.equal(data.support.numClasses, 2);
  assert.deepEqual([...new Set(data.support.y)], [1], "'malignant' is class 1 at every site");
  const alone = validate(fedmetaSchema, { data: { ...base, path: onlyMalignant } });
  assert.deepEqual([...new Set((await loadClientData(alone.data)).support.y)], [0], 'without classNames the site numbers its own labels');
  assert.match(issuesOf(() => validate(fedmetaSchema, { data: { classNames: 'benign' } }))[0]!, /^data\.classNames: must list at least two label values/);
});

test('client.roster (relative to the config file) becomes the client\'s trusted identities, revoked keys left out', async () => {
  const { generateIdentity, rosterToJson } = await import('../src/identity.js');
  const { clientOptionsFromConfig } = await import('../src/config/options.js');
  const site = mkdtempSync(join(tmpdir(), 'fedmeta-trust-'));
  const [a, b, c] = ['site-a', 'site-b', 'site-c'].map((n) => generateIdentity(n));
  const roster = { clients: [a!, b!, c!].map((id, i) => ({ name: id.name, publicKey: id.publicKey, revoked: i === 2 })) };
  writeFileSync(join(site, 'roster.json'), rosterToJson(roster));
  writeFileSync(join(site, 'client.json'), JSON.stringify({ client: { identity: 'me.json', server: 'wss://h:1', roster: 'roster.json' }, data: { clientIndex: 0 } }));
  const config = loadConfig({ file: join(site, 'client.json') });
  assert.equal(config.client.roster, join(site, 'roster.json'));
  const options = clientOptionsFromConfig(config, a!, { id: 0 } as never);
  assert.deepEqual(options.trustedIdentities?.map((k) => Buffer.from(k).toString('hex')), [a!, b!].map((id) => Buffer.from(id.publicKey).toString('hex')));
  const without = clientOptionsFromConfig(validate(fedmetaSchema, { client: { identity: 'x', server: 'wss://h:1' } }), a!, { id: 0 } as never);
  assert.equal(without.trustedIdentities, undefined);
});

test('data.labelCodes local: demo clients get site-local codes 0..k-1 and no global labels', async () => {
  const c = loadConfig({ overrides: { data: { labelCodes: 'local', partition: 'classes', classesPerClient: 3, shards: 4, supportPerClass: 2, queryPerClass: 2 } } });
  assert.equal(hasGlobalLabels(c.data), false);
  assert.equal(hasGlobalLabels(loadConfig({}).data), true, 'shared by default');
  const fed = await loadDemoFederation(c.data, 4);
  for (const client of fed.clients) {
    assert.equal(client.labelCodes!.length, 3);
    assert.deepEqual([...new Set(client.support.y)].sort(), [0, 1, 2]);
  }
  // A demo client built alone (fedmeta client) gets the same codes as in the whole split.
  const one = await loadClientData({ ...c.data, clientIndex: 2 });
  assert.deepEqual(one.labelCodes, fed.clients[2]!.labelCodes);
});

test('a csv / json client without data.classNames is told its class ids are its own', () => {
  const data = (d: object) => loadConfig({ overrides: { data: d } }).data;
  assert.match(labelCodingNote(data({ source: 'csv', path: 'site.csv' }))!, /data\.classNames is not set.*protonets/);
  assert.match(labelCodingNote(data({ source: 'json', path: 'site.json' }))!, /classNames/);
  assert.equal(labelCodingNote(data({ source: 'csv', path: 'site.csv', classNames: 'benign,malignant' })), undefined);
  assert.equal(labelCodingNote(data({ source: 'mnist' })), undefined, 'demo shards share the digits as ids');
});

test('data.classNames may be a YAML list as well as one comma-separated string; a list with a comma inside a name is refused', () => {
  const list = join(dir, 'classes-list.yaml');
  writeFileSync(list, 'data:\n  source: csv\n  classNames: [malignant, benign]\n');
  const text = join(dir, 'classes-text.yaml');
  writeFileSync(text, 'data:\n  source: csv\n  classNames: "malignant,benign"\n');
  assert.equal(loadConfig({ file: list }).data.classNames, 'malignant,benign');
  assert.equal(loadConfig({ file: list }).data.classNames, loadConfig({ file: text }).data.classNames);
  const comma = join(dir, 'classes-comma.yaml');
  writeFileSync(comma, 'data:\n  classNames: ["a,b", c]\n');
  assert.match(issuesOf(() => loadConfig({ file: comma })).join('\n'), /data\.classNames/);
});

test('output.best is a path relative to the config file, like output.model', () => {
  const file = join(dir, 'best.yaml');
  writeFileSync(file, 'output:\n  model: runs/a/model\n  best: runs/a/best-round\n');
  const c = loadConfig({ file });
  assert.equal(c.output.best, join(dir, 'runs/a/best-round'));
  assert.equal(c.output.model, join(dir, 'runs/a/model'));
  assert.equal(loadConfig({}).output.best, undefined, 'default: best/ beside output.model (decided by fedmeta server)');
});
