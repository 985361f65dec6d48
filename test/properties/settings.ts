/**
 * Shared fast-check settings. `FC_SEED` replays a run; `FC_RUNS` changes its size
 * (500 runs per property and engine by default, CI included: each run draws a new
 * seed, so runs add up over time; `FC_RUNS=10000 npm test` for a long soak).
 */
export const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
export const NUM_RUNS = Number(process.env.FC_RUNS ?? 500);

/** Prints what replays this property: its seed and number of runs. */
export function announce(property: string, seed: number, runs: number): void {
  console.log(`fast-check ${property}: seed ${seed}, ${runs} runs (replay with FC_SEED=${seed})`);
}
