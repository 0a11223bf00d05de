// Placeholder: replaced by the issue that owns the 'dp' command.
import { CliError } from '../errors.js';

export async function run(_argv: string[]): Promise<number> {
  throw new CliError("'dp' is not implemented yet", 70);
}
