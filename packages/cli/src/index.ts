export { main, usage } from './main.js';
export type { Command } from './main.js';
export { CliError } from './errors.js';
