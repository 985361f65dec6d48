#!/usr/bin/env node
/**
 * The `xstate-expire` command: inspect and repair durable stores.
 *
 * @packageDocumentation
 */
import { runCli } from './run.js';

process.exitCode = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
