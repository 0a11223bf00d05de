/**
 * Reading a config file: parse JSON or YAML, merge command-line overrides, validate,
 * then resolve file paths against the config file's own directory (so a config that
 * says `roster: roster.json` works from any working directory).
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError, validate } from './schema.js';
import { fedmetaSchema, type FedmetaConfig } from './fedmeta-schema.js';

/** A plain (parsed, not yet validated) config document. */
export type RawConfig = Record<string, unknown>;

/**
 * Parses config text. `.json` files must be JSON; `.yaml`/`.yml` YAML; anything else is
 * tried as JSON first (YAML is a superset, but JSON errors are clearer for JSON files).
 * @throws ConfigError with the line/column of a syntax error
 */
export function parseConfigText(text: string, file = '<config>'): RawConfig {
  const ext = extname(file).toLowerCase();
  let doc: unknown;
  try {
    if (ext === '.json') doc = JSON.parse(text);
    else doc = parseYaml(text, { uniqueKeys: true, prettyErrors: true });
  } catch (err) {
    const what = ext === '.json' ? 'JSON' : 'YAML';
    const detail = err instanceof YAMLParseError || err instanceof SyntaxError ? err.message.split('\n')[0] : String(err);
    throw new ConfigError([{ path: '', message: `not valid ${what}: ${detail}` }], file);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError([{ path: '', message: 'the document must be a mapping of sections (server:, secagg:, dp:, ...)' }], file);
  }
  return doc as RawConfig;
}

/** Reads and parses a config file. @throws ConfigError when unreadable or malformed */
export function readConfigFile(file: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([{ path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? String(err)})` }], file);
  }
  return parseConfigText(text, file);
}

const isPlainObject = (v: unknown): v is RawConfig => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Deep-merges `over` onto `base` (objects merge, everything else replaces). */
export function mergeRaw(base: RawConfig, over: RawConfig): RawConfig {
  const out: RawConfig = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? mergeRaw(prev, v) : v;
  }
  return out;
}

/** Sets a dotted path in a raw document, creating sections as needed. */
export function setPath(doc: RawConfig, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = doc;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (!isPlainObject(next)) node[k] = {};
    node = node[k] as RawConfig;
  }
  node[keys[keys.length - 1]!] = value;
}

/** Config fields that name files: resolved against the config file's directory. */
const PATH_FIELDS = [
  ['server', 'tls', 'cert'],
  ['server', 'tls', 'key'],
  ['server', 'roster'],
  ['server', 'checkpointDir'],
  ['server', 'dashboard', 'tokenFile'],
  ['data', 'path'],
  ['data', 'labels'],
  ['client', 'identity'],
  ['client', 'ca'],
  ['client', 'roster'],
  ['output', 'model'],
  ['output', 'best'],
  ['output', 'log'],
] as const;

function resolvePaths(config: FedmetaConfig, baseDir: string): FedmetaConfig {
  for (const path of PATH_FIELDS) {
    let node = config as unknown as Record<string, unknown>;
    for (const k of path.slice(0, -1)) node = node[k] as Record<string, unknown>;
    const key = path[path.length - 1]!;
    const value = node[key];
    if (typeof value === 'string' && value !== '-' && !isAbsolute(value)) node[key] = resolve(baseDir, value);
  }
  return config;
}

export interface LoadOptions {
  /** Config file; omitted means defaults plus overrides only. */
  file?: string;
  /** Raw defaults applied under the file (e.g. simulate's quick demo settings). */
  defaults?: RawConfig;
  /** Raw values from command-line flags, applied over the file. */
  overrides?: RawConfig;
}

/** `data.classNames` may be written as a list of strings (YAML/JSON) as well as one comma-separated string. */
function listsAsText(raw: RawConfig): RawConfig {
  const data = (raw as { data?: Record<string, unknown> }).data;
  const names = data?.['classNames'];
  if (data && Array.isArray(names) && names.length > 0 && names.every((n) => typeof n === 'string' && n !== '' && !n.includes(','))) {
    return { ...raw, data: { ...data, classNames: names.join(',') } } as RawConfig;
  }
  return raw;
}

/**
 * Loads, merges and validates a config. Paths in the file are relative to the file;
 * paths from flags or defaults are relative to the working directory.
 * @throws ConfigError naming every bad field
 */
export function loadConfig(options: LoadOptions = {}): FedmetaConfig {
  const fromFile = listsAsText(options.file ? readConfigFile(options.file) : {});
  const baseDir = options.file ? dirname(resolve(options.file)) : process.cwd();
  // Resolve the file's own paths first so that flag paths (cwd-relative) are not re-based.
  const fileConfig = validate(fedmetaSchema, mergeRaw(options.defaults ?? {}, fromFile), options.file);
  resolvePaths(fileConfig, baseDir);
  if (!options.overrides || Object.keys(options.overrides).length === 0) return fileConfig;
  const merged = validate(fedmetaSchema, mergeRaw(fileConfig as unknown as RawConfig, options.overrides), options.file ? `${options.file} + flags` : 'flags');
  return resolvePaths(merged, process.cwd());
}
