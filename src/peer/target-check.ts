/**
 * Before an agent goes public: does its local server answer without credentials? A 2xx on `/` (or
 * on a path the user names) means anyone with the public URL gets the same answer.
 */
import { request } from "node:http";

export type TargetVerdict =
  | { kind: "unprotected"; path: string; status: number }
  | { kind: "protected" }
  | { kind: "unreachable"; reason: string };

function get(url: URL, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

export async function checkTarget(target: string, paths: string[], timeoutMs = 2000): Promise<TargetVerdict> {
  for (const path of ["/", ...paths]) {
    let status: number;
    try {
      status = await get(new URL(path, target), timeoutMs);
    } catch (err) {
      return { kind: "unreachable", reason: (err as Error).message };
    }
    if (status >= 200 && status < 300) return { kind: "unprotected", path, status };
  }
  return { kind: "protected" };
}
