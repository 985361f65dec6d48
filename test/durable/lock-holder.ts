/**
 * A process that takes the lock of a PGlite data folder (argv[2]) and holds it
 * until killed: prints `locked` or `refused <message>` on stdout.
 */
import { lockFolder } from '../../src/durable/folder-lock.js';

try {
  await lockFolder(process.argv[2]!);
  process.stdout.write('locked\n');
  setInterval(() => {}, 60_000); // hold it
} catch (error) {
  process.stdout.write(`refused ${(error as Error).message}\n`);
  process.exit(0);
}
