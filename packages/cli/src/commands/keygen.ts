/**
 * `fedmeta keygen`: identities for institutions and the coordinator's roster.
 *
 *   fedmeta keygen --name NAME [--out DIR] [--force]      on each institution
 *   fedmeta keygen --roster roster.json --add NAME.pub.json  on the coordinator
 *   fedmeta keygen --roster roster.json --revoke NAME
 *   fedmeta keygen --roster roster.json                   list the roster
 */
import { resolve } from 'node:path';
import { CliError } from '../errors.js';
import { flagString, parseFlags } from '../config/args.js';
import {
  IdentityError,
  addToRoster,
  generateIdentity,
  readPublicIdentity,
  readRoster,
  revokeInRoster,
  rosterLine,
  writeIdentity,
  writeRoster,
} from '../identity.js';

const HELP = `usage:
  fedmeta keygen --name NAME [--out DIR] [--force]
      Create an Ed25519 identity: DIR/NAME.json (secret, mode 0600, stays on this machine)
      and DIR/NAME.pub.json (public: send it to the coordinator). DIR defaults to '.'.
  fedmeta keygen --roster FILE --add NAME.pub.json [--add OTHER.pub.json ...]
      Add institutions' public keys to the roster (the file is created if missing).
  fedmeta keygen --roster FILE --revoke NAME
      Mark a client revoked: the server refuses its key from then on.
  fedmeta keygen --roster FILE
      List the roster.`;

const FLAGS = {
  name: { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
  roster: { type: 'string' },
  add: { type: 'string', multiple: true },
  revoke: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS) as {
    name?: string; out?: string; force?: boolean; roster?: string; add?: string[]; revoke?: string[]; help?: boolean;
  };
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  try {
    if (f.roster !== undefined) return editRoster(f.roster, f.add ?? [], f.revoke ?? [], f.name !== undefined);
    const name = flagString(f.name);
    if (name === undefined) throw new CliError(`--name is required (or --roster to edit a roster)\n\n${HELP}`);
    const identity = generateIdentity(name);
    const { secretPath, publicPath } = writeIdentity(resolve(f.out ?? '.'), identity, f.force === true);
    console.log(`identity:    ${secretPath}  (secret, mode 0600: keep it on this machine)`);
    console.log(`public key:  ${Buffer.from(identity.publicKey).toString('hex')}`);
    console.log(`public file: ${publicPath}  (send this to the coordinator)`);
    console.log(`roster line: ${rosterLine(identity)}`);
    return 0;
  } catch (err) {
    if (err instanceof IdentityError) throw new CliError(err.message, err.code === 'ERR_IDENTITY_EXISTS' ? 1 : 2);
    throw err;
  }
}

function editRoster(path: string, add: string[], revoke: string[], nameGiven: boolean): number {
  if (nameGiven) throw new CliError('--name and --roster do not go together: create identities with --name, edit rosters with --roster');
  const editing = add.length > 0 || revoke.length > 0;
  const roster = readRoster(path, editing);
  for (const file of add) {
    const id = readPublicIdentity(file);
    addToRoster(roster, id, `${file}: `);
    console.log(`added ${id.name} ${Buffer.from(id.publicKey).toString('hex')}`);
  }
  for (const name of revoke) {
    revokeInRoster(roster, name);
    console.log(`revoked ${name}`);
  }
  if (editing) writeRoster(path, roster);
  const active = roster.clients.filter((c) => !c.revoked).length;
  console.log(`${path}: ${roster.clients.length} client(s), ${active} active`);
  if (!editing) {
    for (const c of roster.clients) console.log(`  ${c.name.padEnd(24)} ${Buffer.from(c.publicKey).toString('hex')}${c.revoked ? '  REVOKED' : ''}`);
  }
  return 0;
}
