/** One-time sign-in codes: each redeems once, within TTL_MS. Few are kept; older ones are dropped. */
import { newSecret, sameSecret } from "./security.ts";

export const CODE_TTL_MS = 120_000;
const MAX_CODES = 16;

export class LoginCodes {
  private readonly codes = new Map<string, number>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  issue(): string {
    const code = newSecret();
    this.codes.set(code, this.now() + CODE_TTL_MS);
    while (this.codes.size > MAX_CODES) this.codes.delete(this.codes.keys().next().value!);
    return code;
  }

  /** True (and spends the code) if it was issued, unused and unexpired. */
  redeem(given: string | undefined): boolean {
    const now = this.now();
    let found: string | undefined;
    for (const [code, expires] of this.codes) {
      if (expires <= now) this.codes.delete(code);
      else if (sameSecret(given, code)) found = code;
    }
    if (found === undefined) return false;
    this.codes.delete(found);
    return true;
  }
}
