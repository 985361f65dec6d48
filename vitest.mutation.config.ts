/**
 * Vitest as `npm run mutate:durable` runs it (stryker.durable.config.mjs): the
 * project's config, but files share their worker's module cache. Stryker
 * switches mutants at run time (a global the instrumented code reads), so a
 * fresh import per file per mutant, a second of CPU each, buys nothing here.
 * The durable tests keep no module state that one run could leave to the next
 * but unique names (schemas, folders).
 */
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

export default mergeConfig(base, defineConfig({ test: { isolate: false } }));
