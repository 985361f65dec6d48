/**
 * Shared fast-check settings. `FC_SEED` replays a run; `FC_RUNS` changes its size
 * (at least 1000 runs per property by default, CI included).
 */
export const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
export const NUM_RUNS = Number(process.env.FC_RUNS ?? 1000);

/** Prints what replays this property: its seed and number of runs. */
export function announce(property: string, seed: number, runs: number): void {
  console.log(`fast-check ${property}: seed ${seed}, ${runs} runs (replay with FC_SEED=${seed})`);
}
