/**
 * `fedmeta vectors verify|generate [dir]`: the protocol test vectors. Argument parsing,
 * file I/O and output only; generation and verification live in @fedmeta/secagg.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatVectorFailure, generateVectorFiles, verifyVectorFiles, VECTOR_VERSION_DIR } from '@fedmeta/secagg';
import { CliError } from '../errors.js';
import { usageRequested } from '../usage.js';

const USAGE = `usage:
  fedmeta vectors verify [dir]
      recompute every vector in dir/${VECTOR_VERSION_DIR}/ with the implementation and check the
      manifest's SHA-256 of each file; exit 0 when all pass, 1 naming each failing file/vector
  fedmeta vectors generate [dir] [--check]
      write dir/${VECTOR_VERSION_DIR}/<kind>.json and MANIFEST.json (deterministic); with --check,
      write nothing and exit 1 unless the files in dir are byte-identical to a fresh generation
  dir defaults to the repository's test-vectors/ (searched upwards from the current directory)`;

/** Exit code when vectors fail verification or differ from a fresh generation. */
const EXIT_MISMATCH = 1;

/** test-vectors/ of the enclosing checkout: upwards from cwd, else next to this package. */
export function defaultVectorsDir(cwd = process.cwd()): string {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'test-vectors')) && existsSync(join(dir, 'package.json'))) return join(dir, 'test-vectors');
    if (dirname(dir) === dir) break;
  }
  // packages/cli/dist/src/commands/vectors.js -> repository root
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..', 'test-vectors');
}

/** Every file under dir/v1/ as "v1/<name>" -> bytes (sub-directories are reported as files too). */
function readVectorDir(dir: string): Map<string, Uint8Array> {
  const versionDir = join(dir, VECTOR_VERSION_DIR);
  if (!existsSync(versionDir) || !statSync(versionDir).isDirectory()) {
    throw new CliError(`${versionDir} is not a directory (expected test vectors in ${dir}/${VECTOR_VERSION_DIR}/)`, EXIT_MISMATCH);
  }
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(versionDir).sort()) {
    const path = join(versionDir, name);
    files.set(`${VECTOR_VERSION_DIR}/${name}`, statSync(path).isFile() ? new Uint8Array(readFileSync(path)) : new Uint8Array(0));
  }
  return files;
}

async function verify(dir: string): Promise<number> {
  const report = await verifyVectorFiles(readVectorDir(dir));
  if (report.ok) {
    console.log(`ok: ${report.vectors} vectors in ${report.files} files verified (${dir})`);
    return 0;
  }
  for (const f of report.failures) console.error(`FAIL ${formatVectorFailure(f)}`);
  console.error(`${report.failures.length} failure(s); ${report.vectors} vectors in ${report.files} files checked (${dir})`);
  return EXIT_MISMATCH;
}

async function generate(dir: string, check: boolean): Promise<number> {
  const files = await generateVectorFiles();
  if (check) {
    const existing = existsSync(join(dir, VECTOR_VERSION_DIR)) ? readVectorDir(dir) : new Map<string, Uint8Array>();
    const problems: string[] = [];
    for (const [path, bytes] of files) {
      const have = existing.get(path);
      if (!have) problems.push(`${path}: missing`);
      else if (Buffer.compare(Buffer.from(have), Buffer.from(bytes)) !== 0) problems.push(`${path}: differs from a fresh generation`);
    }
    for (const path of existing.keys()) if (!files.has(path)) problems.push(`${path}: not produced by the generator`);
    for (const p of problems) console.error(`FAIL ${p}`);
    if (problems.length > 0) return EXIT_MISMATCH;
    console.log(`ok: ${files.size} files in ${dir} are byte-identical to a fresh generation`);
    return 0;
  }
  for (const [path, bytes] of files) {
    const target = join(dir, ...path.split('/'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, bytes);
    console.log(`wrote ${target} (${bytes.length} bytes)`);
  }
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const helped = usageRequested(sub, USAGE);
  if (helped !== null) return helped;
  if (sub !== 'verify' && sub !== 'generate') throw new CliError(`unknown sub-command '${sub}'\n\n${USAGE}`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, options: { check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length > 1) throw new CliError(`expected at most one directory, got ${parsed.positionals.length}\n\n${USAGE}`);
  if (sub === 'verify' && parsed.values.check) throw new CliError(`--check only applies to 'generate'\n\n${USAGE}`);
  const dir = resolve(parsed.positionals[0] ?? defaultVectorsDir());
  return sub === 'verify' ? verify(dir) : generate(dir, parsed.values.check === true);
}
