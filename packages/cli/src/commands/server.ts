// Placeholder: replaced by the issue that owns the 'server' command.
import { CliError } from '../errors.js';

export async function run(_argv: string[]): Promise<number> {
  throw new CliError("'server' is not implemented yet", 70);
}
