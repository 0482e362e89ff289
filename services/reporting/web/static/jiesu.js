// Helpers the board's and the console's pages share.
"use strict";
const jiesu = {
  // GET a JSON document; throws with the problem's title on an error answer.
  async json(url, options) {
    const response = await fetch(url, Object.assign({ headers: { Accept: "application/json" } }, options));
    if (!response.ok) {
      let title = response.statusText;
      try { const problem = await response.json(); title = problem.title || problem.detail || title; } catch (e) { /* not JSON */ }
      throw new Error(`${response.status} ${title}`);
    }
    return response.json();
  },
  // A Server-Sent Events stream that reconnects by itself (EventSource does), calling `onMessage`.
  listen(url, onMessage) {
    const source = new EventSource(url);
    source.onmessage = (event) => onMessage(event.data ? JSON.parse(event.data) : null);
    return source;
  },
};
