/**
 * A RESTful blog whose entries are text files: `GET /` lists them, `GET /ID` shows one,
 * `PUT /ID` creates (201) or replaces (200) one, `DELETE /ID` removes it (204). Each answer
 * comes as HTML, or `?type=xml`, `?type=xhtml` or `?type=atom`. Runs under `deno serve` and
 * every flup gateway.
 *
 *     deno serve --host 127.0.0.1 --port 8000 --allow-net=127.0.0.1:8000 \
 *       --allow-read=examples/blog --allow-write=examples/blog examples/blog.ts
 *     deno run --allow-net=127.0.0.1:9000 --allow-read=. --allow-write=examples/blog \
 *       cli.ts serve examples/blog.ts --fastcgi 127.0.0.1:9000
 *     curl -X PUT --data-binary $'Hello\n\nMy first entry.' http://127.0.0.1:8000/hello
 *
 * An entry is `examples/blog/entries/ID.txt`: its first line is the title, the rest (after a
 * blank line) the text; `PUT` takes the same format as `text/plain`. IDs are lowercase
 * letters, digits and `-` (up to 64). Errors: 404 (no such entry), 400 (bad ID, bad `type`,
 * no title, not UTF-8), 411 (`PUT` without `Content-Length`), 413 (entry over 64 KiB),
 * 405 (other methods).
 *
 * @module
 */

import { expose } from "../publisher/expose.ts";
import { functionResolver } from "../publisher/function_resolver.ts";
import { publisher } from "../publisher/publisher.ts";
import type { Transaction } from "../publisher/transaction.ts";
import type { Handler } from "../server/types.ts";

/** Options of {@linkcode createBlog}. */
export interface BlogOptions {
  /** The directory that holds the entries (`ID.txt`); created on the first `PUT`. */
  dir: string | URL;
  /**
   * Most bytes of one entry; a larger `PUT` gets 413.
   *
   * @default {65536}
   */
  maxEntryBytes?: number;
}

/** One entry, as read from its file. */
interface Entry {
  id: string;
  title: string;
  text: string;
  updated: Date;
}

type Format = "html" | "xml" | "xhtml" | "atom";

const ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const FORMATS: Record<Format, string> = {
  html: "text/html; charset=utf-8",
  xml: "application/xml; charset=utf-8",
  xhtml: "application/xhtml+xml; charset=utf-8",
  atom: "application/atom+xml; charset=utf-8",
};
const decoder = new TextDecoder("utf-8", { fatal: true });

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Plain text as HTML paragraphs. */
function paragraphs(text: string): string {
  return text.split(/\n{2,}/).filter((part) => part.trim() !== "")
    .map((part) => `<p>${escape(part.trim())}</p>`).join("\n");
}

/** Parses `Title\n\nText`; `null` when there is no title. */
function parseEntry(text: string): { title: string; text: string } | null {
  const newline = text.indexOf("\n");
  const title = (newline === -1 ? text : text.slice(0, newline)).trim();
  if (title === "") return null;
  return { title, text: newline === -1 ? "" : text.slice(newline + 1).replace(/^\n+/, "") };
}

function render(format: Format, base: string, entries: Entry[], single: boolean): string {
  const link = (entry: Entry) => escape(`${base}/${entry.id}`);
  const first = entries[0];
  if (format === "atom") {
    const atomEntry = (entry: Entry) =>
      `<entry><id>${link(entry)}</id><title>${escape(entry.title)}</title>` +
      `<updated>${entry.updated.toISOString()}</updated><link href="${link(entry)}"/>` +
      `<content type="text">${escape(entry.text)}</content></entry>`;
    if (single && first) {
      return `<?xml version="1.0" encoding="utf-8"?>\n${
        atomEntry(first).replace("<entry>", '<entry xmlns="http://www.w3.org/2005/Atom">')
      }\n`;
    }
    const updated = entries.reduce((latest, entry) => Math.max(latest, entry.updated.getTime()), 0);
    return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>${escape(base)}/</id><title>Blog</title>
<updated>${new Date(updated).toISOString()}</updated>
${entries.map(atomEntry).join("\n")}
</feed>
`;
  }
  if (format === "xml") {
    const xmlEntry = (entry: Entry) =>
      `<entry id="${entry.id}" updated="${entry.updated.toISOString()}">` +
      `<title>${escape(entry.title)}</title>` +
      (single ? `<text>${escape(entry.text)}</text>` : "") + "</entry>";
    return `<?xml version="1.0" encoding="utf-8"?>\n${
      single && first
        ? xmlEntry(first)
        : `<entries>\n${entries.map(xmlEntry).join("\n")}\n</entries>`
    }\n`;
  }
  const title = single && first ? escape(first.title) : "Blog";
  const body = single && first
    ? `<article><h1>${escape(first.title)}</h1>\n${paragraphs(first.text)}\n` +
      `<p><small>Updated ${first.updated.toISOString()}</small></p></article>`
    : `<h1>Blog</h1>\n<ul>\n${
      entries.map((entry) => `<li><a href="${link(entry)}">${escape(entry.title)}</a></li>`)
        .join("\n")
    }\n</ul>`;
  if (format === "xhtml") {
    return `<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>${title}</title></head>
<body>${body}</body></html>
`;
  }
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body>${body}</body></html>
`;
}

function answer(transaction: Transaction, status: number, message: string): string {
  transaction.response.status = status;
  transaction.response.headers.set("content-type", "text/plain; charset=utf-8");
  return `${message}\n`;
}

/**
 * Creates the blog's handler over a directory of entries.
 *
 * @param options The entries' directory and the size limit.
 * @returns The handler.
 */
export function createBlog(options: BlogOptions): Handler {
  const dir = typeof options.dir === "string"
    ? options.dir
    : decodeURIComponent(options.dir.pathname);
  const maxEntryBytes = options.maxEntryBytes ?? 65_536;
  const file = (id: string) => `${dir.replace(/\/+$/, "")}/${id}.txt`;

  const read = async (id: string): Promise<Entry | null> => {
    let bytes: Uint8Array;
    let stat: Deno.FileInfo;
    try {
      [bytes, stat] = await Promise.all([Deno.readFile(file(id)), Deno.stat(file(id))]);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    const parsed = parseEntry(new TextDecoder().decode(bytes));
    return parsed && { id, ...parsed, updated: stat.mtime ?? new Date(0) };
  };

  const list = async (): Promise<Entry[]> => {
    const entries: Entry[] = [];
    try {
      for await (const item of Deno.readDir(dir)) {
        const id = item.name.slice(0, -".txt".length);
        if (!item.isFile || !item.name.endsWith(".txt") || !ID.test(id)) continue;
        const entry = await read(id);
        if (entry) entries.push(entry);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return entries.sort((a, b) =>
      b.updated.getTime() - a.updated.getTime() || (a.id < b.id ? -1 : 1)
    );
  };

  const put = async (transaction: Transaction, id: string): Promise<string> => {
    const request = transaction.request;
    const length = request.headers.get("content-length");
    if (length === null) return answer(transaction, 411, "PUT needs a Content-Length.");
    if (!/^\d+$/.test(length)) return answer(transaction, 400, "Bad Content-Length.");
    if (Number(length) > maxEntryBytes) {
      await request.body?.cancel();
      return answer(transaction, 413, `An entry is at most ${maxEntryBytes} bytes.`);
    }
    let text: string;
    try {
      text = decoder.decode(await request.bytes());
    } catch {
      return answer(transaction, 400, "The entry is not UTF-8 text.");
    }
    const parsed = parseEntry(text.replaceAll("\r\n", "\n"));
    if (parsed === null) {
      return answer(transaction, 400, "The entry needs a title on its first line.");
    }
    const existed = (await read(id)) !== null;
    await Deno.mkdir(dir, { recursive: true });
    const temporary = `${file(id)}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(temporary, `${parsed.title}\n\n${parsed.text}`);
    await Deno.rename(temporary, file(id));
    if (existed) return answer(transaction, 200, "Updated.");
    transaction.response.headers.set("location", `${transaction.scriptName}/${id}`);
    return answer(transaction, 201, "Created.");
  };

  const blog = expose(
    { params: { type: "optional" }, methods: ["GET", "PUT", "DELETE"] },
    async (transaction, { type }) => {
      const format = (type ?? "html") as Format;
      if (!(format in FORMATS)) {
        return answer(transaction, 400, 'Unknown type: use "xml", "xhtml" or "atom".');
      }
      const base = transaction.scriptName;
      const path = transaction.pathInfo;
      const method = transaction.request.method;
      if (path === "/" || path === "") {
        if (method !== "GET" && method !== "HEAD") {
          transaction.response.headers.set("allow", "GET, HEAD");
          return answer(transaction, 405, "The list is read-only: PUT or DELETE an entry.");
        }
        transaction.response.headers.set("content-type", FORMATS[format]);
        return render(format, base, await list(), false);
      }
      const id = path.slice(1);
      if (!ID.test(id)) {
        if (method === "PUT") return answer(transaction, 400, "Bad entry ID.");
        return answer(transaction, 404, "No such entry.");
      }
      if (method === "PUT") return await put(transaction, id);
      if (method === "DELETE") {
        try {
          await Deno.remove(file(id));
        } catch (error) {
          if (error instanceof Deno.errors.NotFound) {
            return answer(transaction, 404, "No such entry.");
          }
          throw error;
        }
        transaction.response.status = 204;
        return undefined;
      }
      const entry = await read(id);
      if (entry === null) return answer(transaction, 404, "No such entry.");
      transaction.response.headers.set("content-type", FORMATS[format]);
      return render(format, base, [entry], true);
    },
  );

  return publisher(functionResolver(blog), { maxFormBytes: maxEntryBytes });
}

export default { fetch: createBlog({ dir: new URL("./blog/entries/", import.meta.url) }) };
