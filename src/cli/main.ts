#!/usr/bin/env node
// The `keyhold` binary: runs the CLI (cli.ts) with the process's streams and environment, and
// exits with its code.

import { main } from './cli.ts';
import { PROCESS_IO } from './io.ts';

process.exitCode = await main(process.argv.slice(2), PROCESS_IO);
