/**
 * The help convention shared by `fedmeta` and its sub-command groups: no word at all is a
 * usage error (usage printed, exit 2); `help`, `-h` or `--help` asks for it (exit 0).
 * @returns the exit code when `word` was such a request (usage already printed), else null
 */
export function usageRequested(word: string | undefined, usage: string): number | null {
  if (word !== undefined && word !== '--help' && word !== '-h' && word !== 'help') return null;
  console.log(usage);
  return word === undefined ? 2 : 0;
}
