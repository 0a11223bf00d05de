// Placeholder: replaced by the issue that owns the 'keygen' command.
import { CliError } from '../errors.js';

export async function run(_argv: string[]): Promise<number> {
  throw new CliError("'keygen' is not implemented yet", 70);
}
