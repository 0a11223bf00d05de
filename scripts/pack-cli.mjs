#!/usr/bin/env node
// `npm run pack:cli [-- DIR]`: the fedmeta command for a site's machine, without the
// monorepo and without the npm registry. DIR (default dist/fedmeta-cli), after `tsc -b`:
//
//   tarballs/           one npm tarball per workspace package the CLI needs, and one per
//                       third-party package they need at run time (TensorFlow.js, ws,
//                       libsodium, ..., transitively), packed from the copies installed in
//                       this checkout's node_modules: exactly the versions of package-lock.json
//   package.json        a project whose one dependency is the @fedmeta/cli tarball
//   package-lock.json   the tree npm installed here, each package resolved to its tarball
//                       (file:tarballs/...) with the tarball's sha512
//   README.txt          the install command and the list of packages
//
// Dev dependencies are left out, and so are optional dependencies that are not installed
// here. On the site, copy DIR to where the command should live and, with no network:
//
//   cd DIR && npm ci --offline --no-audit --no-fund
//   ./node_modules/.bin/fedmeta --help
//
// packages/tests/test/install.test.ts does this with an empty npm cache and an unreachable
// registry, and runs the installed command.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const root = realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
const out = resolve(process.argv[2] ?? join(root, 'dist', 'fedmeta-cli'));
const tarDir = join(out, 'tarballs');
const PACKAGES = ['secagg', 'dp', 'meta', 'transport', 'server', 'client', 'cli'];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function fail(code, message) {
  console.error(`pack-cli: ${code}: ${message}`);
  process.exit(1);
}

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const relPath = (p) => relative(root, p).split(sep).join('/');

for (const p of PACKAGES) {
  if (!existsSync(join(root, 'packages', p, 'dist', 'src', 'index.js'))) {
    fail('ERR_PACK_NOT_BUILT', `packages/${p} is not built; run npx tsc -b (npm run pack:cli does)`);
  }
}

// ---- The run-time dependency closure, as installed here. ----

const lock = readJson(join(root, 'package-lock.json'));
const workspaceDirs = new Map(PACKAGES.map((p) => [realpathSync(join(root, 'packages', p)), `node_modules/@fedmeta/${p}`]));

/** Node's lookup of `name` from a package at `dir`, up to (and including) the repository root. */
function resolveFrom(dir, name) {
  for (let d = dir; ; d = dirname(d)) {
    if (basename(d) !== 'node_modules') {
      const candidate = join(d, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
    }
    if (d === root || dirname(d) === d) return null;
  }
}

/** The dependencies npm installs with a manifest: name -> 'required' | 'optional'. */
function edgesOf(pkg) {
  const edges = new Map();
  for (const n of Object.keys(pkg.dependencies ?? {})) edges.set(n, 'required');
  for (const n of Object.keys(pkg.peerDependencies ?? {})) {
    if (!edges.has(n)) edges.set(n, pkg.peerDependenciesMeta?.[n]?.optional ? 'optional' : 'required');
  }
  for (const n of Object.keys(pkg.optionalDependencies ?? {})) edges.set(n, 'optional');
  return edges;
}

// Every package location (as in package-lock.json: node_modules/a, node_modules/a/node_modules/b)
// the workspace packages reach; `required` holds those reached without an optional edge.
const found = new Map(); // location -> { dir, name, version, workspace }
const skipped = [];
const required = new Set();
const queue = [...workspaceDirs].map(([dir, key]) => ({ dir, key, viaRequired: true }));
for (const { dir, key } of queue) {
  const { name, version } = readJson(join(dir, 'package.json'));
  found.set(key, { dir, name, version, workspace: true });
  required.add(key);
}
while (queue.length > 0) {
  const { dir, viaRequired } = queue.shift();
  const pkg = readJson(join(dir, 'package.json'));
  for (const [name, kind] of edgesOf(pkg)) {
    const at = resolveFrom(dir, name);
    if (at === null) {
      if (kind === 'optional') skipped.push(`${name} (optional for ${pkg.name}; not installed)`);
      else fail('ERR_PACK_MISSING_DEPENDENCY', `${name}, needed by ${pkg.name}, is not installed; run npm ci`);
      continue;
    }
    const real = realpathSync(at);
    const isRequired = viaRequired && kind === 'required';
    let key;
    if (workspaceDirs.has(real)) {
      key = workspaceDirs.get(real);
    } else if (real === join(root, 'packages') || real.startsWith(join(root, 'packages') + sep)) {
      fail('ERR_PACK_WORKSPACE_NOT_PACKED', `${pkg.name} depends on the workspace package at ${relPath(real)}, which is not among the packed ones (${PACKAGES.join(', ')})`);
    } else {
      key = relPath(at);
      if (!key.startsWith('node_modules/')) {
        fail('ERR_PACK_NESTED_IN_WORKSPACE', `${key} is installed inside a workspace package; only the repository's node_modules/ is packed (align its version with the top-level one)`);
      }
      if (!found.has(key)) {
        const manifest = readJson(join(at, 'package.json'));
        if (manifest.name !== name) {
          fail('ERR_PACK_ALIAS', `${key} holds ${manifest.name}, installed under the alias ${name} (for ${pkg.name}); aliased dependencies are not packed`);
        }
        const locked = lock.packages?.[key];
        if (locked?.version !== manifest.version) {
          fail('ERR_PACK_LOCK_MISMATCH', `${key} is ${manifest.name}@${manifest.version} but package-lock.json says ${locked ? locked.version : 'nothing'}; run npm ci`);
        }
        found.set(key, { dir: at, name, version: manifest.version, workspace: false });
        if (isRequired) required.add(key);
        queue.push({ dir: at, viaRequired: isRequired });
        continue;
      }
    }
    // Seen before: walk it again only if this edge makes it required where it was not.
    if (isRequired && !required.has(key)) {
      required.add(key);
      queue.push({ dir: found.get(key).dir, viaRequired: true });
    }
  }
}

// ---- Output folder. ----

const README = 'README.txt';
const HEADER = 'fedmeta command for a machine without the npm registry';
const OURS = [README, 'package.json', 'package-lock.json', 'tarballs'];
if (existsSync(out)) {
  const entries = readdirSync(out);
  const ours = entries.includes(README) && readFileSync(join(out, README), 'utf8').startsWith(HEADER);
  const oldOutput = entries.every((f) => /^fedmeta-.*\.tgz$/.test(f));
  if (!ours && !oldOutput) fail('ERR_PACK_DIR_NOT_EMPTY', `${out} holds files that pack-cli did not write; give an empty or new folder`);
  for (const f of entries) if (OURS.includes(f) || /^fedmeta-.*\.tgz$/.test(f)) rmSync(join(out, f), { recursive: true });
}
mkdirSync(tarDir, { recursive: true });

// ---- Tarballs. ----

/** `npm pack` of the workspace packages (their `files` fields say what they publish). */
function npmPackWorkspace() {
  const r = spawnSync(npm, ['pack', '--json', '--pack-destination', tarDir, ...PACKAGES.flatMap((p) => ['-w', `@fedmeta/${p}`])], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) fail('ERR_PACK_NPM', `npm pack exited ${r.status}:\n${r.stderr}`);
  try {
    return new Map(JSON.parse(r.stdout).map((e) => [e.name, e.filename]));
  } catch {
    fail('ERR_PACK_NPM', `npm pack printed no JSON:\n${r.stdout}\n${r.stderr}`);
  }
}

/** Files under `dir` as [path relative to dir with '/', absolute path], leaving out dir/node_modules. */
function filesOf(dir, prefix = '') {
  const files = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const p = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (p === 'node_modules') continue;
    if (e.isDirectory()) files.push(...filesOf(dir, p));
    else if (e.isFile()) files.push([p, join(dir, p)]);
    else fail('ERR_PACK_CONTENTS', `${join(dir, p)} is not a plain file or folder (a link?); it cannot be packed`);
  }
  return files;
}

// A third-party package's tarball is its installed copy, file for file, in npm's tarball
// layout (a gzipped ustar archive of package/...), not a re-run of `npm pack`, whose file
// rules differ between npm versions. Entries are sorted and dated as npm dates them, so
// the same checkout gives the same bytes.
const MTIME = Math.floor(Date.UTC(1985, 9, 26, 8, 15) / 1000);

function tarHeader(name, size, mode, type) {
  const h = Buffer.alloc(512);
  const put = (text, at, len) => h.write(text, at, len, 'utf8');
  const octal = (n, at, len) => put(`${n.toString(8).padStart(len - 1, '0')}\0`, at, len);
  put(name, 0, 100);
  octal(mode, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(MTIME, 136, 12);
  put('        ', 148, 8);
  put(type, 156, 1);
  put('ustar\u000000', 257, 8);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

const pad512 = (n) => Buffer.alloc((512 - (n % 512)) % 512);

/** A tar archive of the files of an installed package (its own node_modules left out). */
function tar(dir) {
  const blocks = [];
  for (const [path, abs] of filesOf(dir).sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const name = `package/${path}`;
    if (Buffer.byteLength(name) > 100) {
      // A pax extended header carries the long path; its record counts its own length.
      const body = ` path=${name}\n`;
      let len = Buffer.byteLength(body);
      while (len !== Buffer.byteLength(body) + String(len).length) len = Buffer.byteLength(body) + String(len).length;
      const record = Buffer.from(`${len}${body}`);
      blocks.push(tarHeader('PaxHeader', record.length, 0o644, 'x'), record, pad512(record.length));
    }
    const data = readFileSync(abs);
    const mode = (statSync(abs).mode & 0o111) !== 0 ? 0o755 : 0o644;
    blocks.push(tarHeader(Buffer.from(name).subarray(0, 100).toString('utf8'), data.length, mode, '0'), data, pad512(data.length));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const tarballName = (name, version) => `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`;

const workspaceTarballs = npmPackWorkspace();
const filenames = new Map(); // name@version -> file name in tarballs/
// Compression runs on libuv's thread pool, a few archives at a time.
const gzipAsync = promisify(gzip);
const writing = new Set();
async function writeTarball(filename, dir) {
  while (writing.size >= Math.min(4, availableParallelism())) await Promise.race(writing);
  const job = gzipAsync(tar(dir))
    .then((gz) => writeFileSync(join(tarDir, filename), gz))
    .catch((err) => fail('ERR_PACK_WRITE', `${filename}: ${err.message}`))
    .finally(() => writing.delete(job));
  writing.add(job);
}
for (const [key, e] of [...found].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
  const id = `${e.name}@${e.version}`;
  if (filenames.has(id)) continue;
  const filename = e.workspace ? workspaceTarballs.get(e.name) : tarballName(e.name, e.version);
  if (filename === undefined) fail('ERR_PACK_NPM', `npm pack made no tarball for ${e.name}`);
  const clash = [...filenames].find(([, f]) => f === filename);
  if (clash) fail('ERR_PACK_NAME_CLASH', `${clash[0]} and ${id} (${key}) both pack to ${filename}`);
  if (!e.workspace) await writeTarball(filename, e.dir);
  filenames.set(id, filename);
}
await Promise.all(writing);
const tarballs = readdirSync(tarDir).filter((f) => f.endsWith('.tgz')).sort();
if (tarballs.length !== filenames.size) fail('ERR_PACK_NPM', `expected ${filenames.size} tarballs in ${tarDir}, found ${tarballs.length}`);

// ---- The project that installs them: package.json and package-lock.json. ----

const cli = readJson(join(root, 'packages', 'cli', 'package.json'));
const cliSpec = `file:tarballs/${filenames.get(`${cli.name}@${cli.version}`)}`;
const site = { name: 'fedmeta-site', version: cli.version, private: true, description: 'The fedmeta command, installed from the tarballs beside this file.', dependencies: { [cli.name]: cliSpec } };
const FIELDS = ['license', 'dependencies', 'optionalDependencies', 'peerDependencies', 'peerDependenciesMeta', 'bin', 'engines', 'os', 'cpu', 'hasInstallScript'];
const packages = { '': { name: site.name, version: site.version, dependencies: site.dependencies } };
for (const [key, e] of [...found].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
  const filename = filenames.get(`${e.name}@${e.version}`);
  const source = e.workspace ? lock.packages[relPath(e.dir)] : lock.packages[key];
  if (e.workspace) {
    const declared = readJson(join(e.dir, 'package.json'));
    for (const f of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
      const sorted = (o) => JSON.stringify(Object.entries(o ?? {}).sort());
      if (sorted(declared[f]) !== sorted(source?.[f])) {
        fail('ERR_PACK_LOCK_MISMATCH', `the ${f} of ${relPath(e.dir)}/package.json differ from package-lock.json; run npm install`);
      }
    }
  }
  const entry = { version: e.version, resolved: `file:tarballs/${filename}`, integrity: `sha512-${createHash('sha512').update(readFileSync(join(tarDir, filename))).digest('base64')}` };
  for (const f of FIELDS) if (source?.[f] !== undefined) entry[f] = source[f];
  if (!required.has(key)) entry.optional = true;
  packages[key] = entry;
}
const siteLock = { name: site.name, version: site.version, lockfileVersion: 3, requires: true, packages };
writeFileSync(join(out, 'package.json'), `${JSON.stringify(site, null, 2)}\n`);
writeFileSync(join(out, 'package-lock.json'), `${JSON.stringify(siteLock, null, 2)}\n`);

const total = tarballs.reduce((s, f) => s + statSync(join(tarDir, f)).size, 0);
const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const lines = [
  `${HEADER}: fedmeta ${cli.version}`,
  '',
  `tarballs/ holds ${tarballs.length} npm tarballs (${mb(total)}): the fedmeta packages and every package they`,
  'need at run time, packed from the installed copies of the checkout they were made in;',
  'package-lock.json pins each to its tarball and its sha512. With Node.js',
  `${readJson(join(root, 'package.json')).engines?.node ?? '(any version)'} and npm, and no network, copy this folder to where the command should live, then:`,
  '',
  '  npm ci --offline --no-audit --no-fund',
  '  ./node_modules/.bin/fedmeta --help',
  '',
  'packages:',
  ...[...filenames].map(([id, f]) => `  ${id}  tarballs/${f}`),
  ...(skipped.length ? ['', 'not included (not installed where these were packed):', ...skipped.map((s) => `  ${s}`)] : []),
  '',
];
writeFileSync(join(out, README), lines.join('\n'));

console.log(`pack-cli: ${tarballs.length} tarballs (${PACKAGES.length} fedmeta, ${tarballs.length - PACKAGES.length} third-party), ${mb(total)} in all, in ${tarDir}`);
for (const s of skipped) console.log(`  not included: ${s}`);
console.log(`install on a site (no network needed): copy ${out} there, then in it: npm ci --offline --no-audit --no-fund`);
console.log(`  (then: ./node_modules/.bin/fedmeta --help; see ${join(out, README)})`);
