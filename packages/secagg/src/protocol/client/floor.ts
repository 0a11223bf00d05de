/**
 * The client's own floor on the survivor set (option `minSurvivors`), checked first on
 * any U3 it is shown - in the consistency request before signing, and in the unmask
 * request before revealing. In a sum of two inputs each party learns the other's by
 * subtraction; the floor is this client's local guard against helping release a sum of
 * fewer inputs than it accepts, whatever floor the server applies.
 */
import { clientAbort } from './abort.js';
import type { ClientContext } from './context.js';

/**
 * Aborts with TOO_FEW_SURVIVORS when fewer than `minSurvivors` ids are listed (so fewer
 * distinct members, however malformed the list); a no-op without a floor.
 */
export function checkSurvivorFloor(ctx: ClientContext, survivors: readonly number[]): void {
  if (ctx.minSurvivors !== null && survivors.length < ctx.minSurvivors) {
    clientAbort('TOO_FEW_SURVIVORS', `${survivors.length} survivors < this client's floor of ${ctx.minSurvivors} (minSurvivors)`);
  }
}
