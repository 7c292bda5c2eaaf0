// Reads the query string and a form body (urlencoded or multipart) into one FormData, with
// the body bounded by maxFormBytes.

/** The form, or why it could not be read. */
export type FormResult =
  | { ok: true; form: FormData }
  | { ok: false; status: 400 | 413; message: string };

const FORM_TYPES = new Set(["application/x-www-form-urlencoded", "multipart/form-data"]);

/** Thrown inside the body stream when it passes the limit. */
class TooLarge extends Error {}

/**
 * Reads `url`'s query parameters, then, for a POST whose body is a form (what HTML forms
 * send), its fields. Other bodies, and the bodies of other methods (a PUT of a document that
 * curl labels as urlencoded), are left unread for the function.
 */
export async function readForm(
  request: Request,
  url: URL,
  maxBytes: number,
  onLimit: () => void,
): Promise<FormResult> {
  const form = new FormData();
  for (const [name, value] of url.searchParams) form.append(name, value);
  const contentType = request.headers.get("content-type");
  const media = (contentType?.split(";")[0] ?? "").trim().toLowerCase();
  if (
    request.method !== "POST" || request.body === null || request.bodyUsed ||
    !FORM_TYPES.has(media)
  ) {
    return { ok: true, form };
  }
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    onLimit();
    await request.body.cancel().catch(() => {});
    return { ok: false, status: 413, message: "The form is too large." };
  }
  let seen = 0;
  const bounded = request.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.length;
        if (seen > maxBytes) throw new TooLarge();
        controller.enqueue(chunk);
      },
    }),
  );
  try {
    if (media === "multipart/form-data") {
      const body = new Response(bounded, { headers: { "content-type": contentType ?? "" } });
      for (const [name, value] of await body.formData()) form.append(name, value);
    } else {
      const text = await new Response(bounded).text();
      for (const [name, value] of new URLSearchParams(text)) form.append(name, value);
    }
  } catch (error) {
    if (error instanceof TooLarge || seen > maxBytes) {
      onLimit();
      return { ok: false, status: 413, message: "The form is too large." };
    }
    return { ok: false, status: 400, message: "The form could not be read." };
  }
  return { ok: true, form };
}
