// Placeholder: replaced by the issue that owns the 'status' command.
import { CliError } from '../errors.js';

export async function run(_argv: string[]): Promise<number> {
  throw new CliError("'status' is not implemented yet", 70);
}
