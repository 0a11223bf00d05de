// Placeholder: replaced by the issue that owns the 'client' command.
import { CliError } from '../errors.js';

export async function run(_argv: string[]): Promise<number> {
  throw new CliError("'client' is not implemented yet", 70);
}
