// The end-to-end benchmark app, in the `deno serve` shape so every flavor can load it:
// `/download` answers 10 MiB, `/upload` reads the whole body and answers its length, any
// other path answers "Hello, world!". The PHP files in php/ do the same for php-fpm.

/** Bytes `/download` answers: 10 MiB. */
export const DOWNLOAD_BYTES = 10 * 1024 * 1024;

// Made on the first download, so that the hello-world rows do not carry it in their RSS.
let download: Uint8Array<ArrayBuffer> | null = null;
const textHeaders = { "content-type": "text/plain; charset=utf-8" };
const binaryHeaders = { "content-type": "application/octet-stream" };

/** Reads a body to its end and returns how many bytes it had. */
async function drain(body: ReadableStream<Uint8Array> | null): Promise<number> {
  if (body === null) return 0;
  let bytes = 0;
  for await (const chunk of body) bytes += chunk.byteLength;
  return bytes;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/download") {
      download ??= new Uint8Array(DOWNLOAD_BYTES).fill(0x78);
      return new Response(download, { headers: binaryHeaders });
    }
    if (path === "/upload") {
      return new Response(`${await drain(request.body)}\n`, { headers: textHeaders });
    }
    return new Response("Hello, world!\n", { headers: textHeaders });
  },
};
