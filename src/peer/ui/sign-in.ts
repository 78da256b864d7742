/**
 * How `agent-relay ui` signs a browser in: it shows the token from ui.json to the page's server and
 * gets a one-time code back; the browser opens `/login?code=...`, which sets the cookie. The token
 * itself never appears in a URL, so it never lands in the browser's history.
 */
import { request } from "node:http";
import { readUiFile, UiFileError } from "./ui-file.ts";

export async function requestSignInUrl(home: string, timeoutMs = 5000): Promise<string> {
  const { port, token } = readUiFile(home);
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/api/login-code",
        headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${token}`, "content-length": 0 },
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () =>
          res.statusCode === 200
            ? resolve(text)
            : reject(new UiFileError(`the management page refused to sign in (${res.statusCode} ${text})`)),
        );
      },
    );
    req.on("timeout", () => req.destroy(new UiFileError("the management page did not answer")));
    req.on("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "ECONNREFUSED"
          ? new UiFileError("no management page answers; is `agent-relay up` still running?")
          : err,
      ),
    );
    req.end();
  });
  const { code } = JSON.parse(body) as { code: string };
  return `http://127.0.0.1:${port}/login?code=${encodeURIComponent(code)}`;
}
