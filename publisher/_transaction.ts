// The Transaction a published function receives, and its response part.

import { type CookieOptions, formatSetCookie, parseCookieHeader } from "../middleware/cookie.ts";
import type { Session } from "../middleware/session.ts";
import type { GatewayInfo } from "../server/types.ts";
import type { Transaction, TransactionResponse } from "./transaction.ts";

/** The response part of a transaction. */
class ResponseParts implements TransactionResponse {
  #status = 200;
  statusText = "";
  readonly headers: Headers = new Headers();
  #https: boolean;

  constructor(https: boolean) {
    this.#https = https;
  }

  get status(): number {
    return this.#status;
  }

  set status(value: number) {
    if (!Number.isInteger(value) || value < 200 || value > 599) {
      throw new RangeError(`Cannot set status "${value}": use a whole number from 200 to 599`);
    }
    this.#status = value;
  }

  setCookie(name: string, value: string, options: CookieOptions = {}): void {
    this.headers.append(
      "set-cookie",
      formatSetCookie(name, value, {
        path: "/",
        httpOnly: true,
        sameSite: "Lax",
        secure: this.#https || options.sameSite === "None",
        ...options,
      }),
    );
  }

  deleteCookie(name: string, options: Pick<CookieOptions, "path" | "domain"> = {}): void {
    this.headers.append(
      "set-cookie",
      formatSetCookie(name, "", { path: "/", ...options, maxAge: 0, expires: new Date(0) }),
    );
  }
}

/** One request's transaction; the publisher sets the route before each call. */
export class TransactionState implements Transaction {
  readonly request: Request;
  readonly info: GatewayInfo;
  readonly url: URL;
  readonly session: Session | null;
  readonly response: ResponseParts;
  scriptName = "";
  pathInfo = "";
  form: FormData = new FormData();
  #cookies: ReadonlyMap<string, string> | undefined;

  constructor(request: Request, info: GatewayInfo, url: URL, session: Session | null) {
    this.request = request;
    this.info = info;
    this.url = url;
    this.session = session;
    this.response = new ResponseParts(url.protocol === "https:");
  }

  get cookies(): ReadonlyMap<string, string> {
    this.#cookies ??= parseCookieHeader(this.request.headers.get("cookie"));
    return this.#cookies;
  }
}
