#!/usr/bin/env node
// The `fedmeta` command. Run it directly (an installed package puts it on PATH) or through
// npm (`npx fedmeta`, `npm run fedmeta --`): under npm, a SIGTERM to npm's PID still
// reaches the running command (see src/launcher.ts).
import { followLauncher } from '../dist/src/launcher.js';
import { main } from '../dist/src/main.js';

followLauncher();
process.exitCode = await main(process.argv.slice(2));
