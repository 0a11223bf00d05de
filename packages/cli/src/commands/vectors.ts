// Placeholder: replaced by the issue that owns the 'vectors' command.
import { CliError } from '../errors.js';

export async function run(_argv: string[]): Promise<number> {
  throw new CliError("'vectors' is not implemented yet", 70);
}
