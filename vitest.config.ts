import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests run on SimulatedClock; a slow test is a hung test.
    testTimeout: 10_000,
    // Both cores: many files wait on processes and databases, not the CPU.
    maxWorkers: 2,
  },
});
