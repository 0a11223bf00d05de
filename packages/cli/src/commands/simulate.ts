// Placeholder: replaced by the issue that owns the 'simulate' command.
import { CliError } from '../errors.js';

export async function run(_argv: string[]): Promise<number> {
  throw new CliError("'simulate' is not implemented yet", 70);
}
