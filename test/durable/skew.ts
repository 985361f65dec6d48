/**
 * Preload for a worker whose clock is off: `Date.now()` and `new Date()` are
 * shifted by `CLOCK_SKEW_MS` (e.g. ±600000), as on a host whose clock drifted.
 * Timers (`setTimeout`) and `performance.now()` are untouched, as they are on
 * such a host. Bundled, used as `node --import …/clock-skew.mjs …/durable-worker.mjs`.
 */
const skew = Number(process.env['CLOCK_SKEW_MS'] ?? 0);
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);

class SkewedDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(realNow() + skew);
    else super(...(args as [string | number | Date]));
  }

  static override now(): number {
    return realNow() + skew;
  }
}

globalThis.Date = SkewedDate as DateConstructor;
