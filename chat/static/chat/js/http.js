// The page's calls to the chat's JSON views: same-origin, with the CSRF token when
// posting, and always an answer object ({ok: false, detail} when the server could not
// be reached or did not answer JSON), so callers show one kind of failure.

/** POST `body` (FormData or URLSearchParams) to `url`, or GET without a body. */
export async function callJson(url, { csrfToken, body } = {}) {
  try {
    const response = await fetch(url, {
      method: body ? "POST" : "GET",
      body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
    });
    return await response.json().catch(() => ({ ok: false, detail: `the server answered ${response.status}` }));
  } catch {
    return { ok: false, detail: "the server could not be reached" };
  }
}
