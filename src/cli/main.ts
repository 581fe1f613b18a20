#!/usr/bin/env node
/**
 * Entry point of the `cordon` command. Builds the commander program; every
 * command loads its implementation lazily so that quick commands such as
 * `cordon status` do not pay for the daemon's imports.
 */
import { buildProgram } from './program.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`cordon: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
